// Loading BPF objects: ownership of skeletons and links, libbpf's log
// through the diagnostics channel, the verifier's statistics (-v) and the
// per-program report of --check. Shared by every backend that loads BPF.
#pragma once

#include <bpf/libbpf.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iptables_trace/diagnostics.hpp"
#include "iptables_trace/result.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {

// A bpftool skeleton (its C++ members open/load/destroy), destroyed with
// everything it loaded.
template <class Skel>
struct SkelDeleter {
    void operator()(Skel* s) const { Skel::destroy(s); }
};
template <class Skel>
using SkelPtr = std::unique_ptr<Skel, SkelDeleter<Skel>>;

struct LinkDeleter {
    void operator()(struct bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<struct bpf_link, LinkDeleter>;

// While alive, libbpf's messages go to diag: warnings and information as
// libbpf itself would print them; with ITR_LIBBPF_DEBUG=1 every message,
// debug level included, time-stamped in ms of CLOCK_MONOTONIC (where the
// load time goes). No diag: nowhere (a probe reports through its answer).
// libbpf's print hook is process-wide: the previous one is put back at the
// end.
class LibbpfLog {
public:
    explicit LibbpfLog(Diagnostics* diag);
    ~LibbpfLog();
    LibbpfLog(const LibbpfLog&) = delete;
    LibbpfLog& operator=(const LibbpfLog&) = delete;

private:
    Diagnostics* previous_diag_;
    libbpf_print_fn_t previous_fn_;
};

// The verifier's own statistics (BPF_LOG_STATS) of every program of obj
// that will load: set up before the load, read after it.
class VerifierStats {
public:
    explicit VerifierStats(struct bpf_object* obj);
    // "kprobe_ipt_do_table: 9717 insns walked in 51.2 ms", one per program.
    std::vector<std::string> lines() const;

private:
    std::vector<std::pair<struct bpf_program*, std::string>> logs_;
};

// "processed 9717 insns ... verification time 51234 usec" -> "9717 insns
// walked in 51.2 ms". Pure.
std::string verifier_stats_summary(const char* log);

// Opens and loads a skeleton; configure(Skel&) runs between the two
// (rodata, autoload). With stats (-v), each program's verifier statistics
// are said as start-up notices; a load that fails with them is repeated
// without, so that libbpf logs the verifier's reasons.
template <class Skel, class Configure>
Result<SkelPtr<Skel>> load_skeleton(Configure&& configure, Diagnostics& diag, bool stats)
{
    auto once = [&](bool with_stats) -> Result<SkelPtr<Skel>> {
        SkelPtr<Skel> skel(Skel::open());
        if (!skel)
            return Error{"opening the BPF object: " + errno_text(errno), ""};
        configure(*skel);
        std::optional<VerifierStats> vs;
        if (with_stats)
            vs.emplace(skel->obj);
        if (int err = Skel::load(skel.get()))
            return Error{"loading the BPF programs: " + errno_text(-err),
                         "run with -v, or `iptables-trace --check`, to see the verifier's log"};
        if (vs)
            for (const auto& l : vs->lines())
                diag.notice("start-up:     " + l);
        return skel;
    };
    auto skel = once(stats);
    if (!skel && stats)
        skel = once(false);
    return skel;
}

// --check: a line per program of obj, "  ok    <name> (<n> insns[, <m>
// verified])", or "  skip  <name> (<skipped>)" for one not loaded.
void report_programs(struct bpf_object* obj, std::ostream& out, std::string_view skipped);

// The sum over every possible CPU of a per-CPU array's u64 at key.
uint64_t percpu_sum(int map_fd, uint32_t key);
// "; bpf: seen=N matched=N ..." from the programs' per-CPU stats map.
std::string bpf_stats_text(int stats_map_fd);

}  // namespace itr
