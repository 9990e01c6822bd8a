// kprobes that user space places itself (the module places the table
// probes): by address through the kprobe PMU when the address is known,
// else by name through libbpf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <span>
#include <vector>

#include "iptables_trace/result.hpp"
#include "loader.hpp"

namespace itr {

struct AttachedProbes {
    std::vector<LinkPtr> links;
    bool by_address = false;  // every probe went in at the address
};

// Attaches each program as a kprobe on the function at addr (0: unknown),
// a kretprobe for the programs libbpf marks as such. By name (libbpf walks
// every kernel symbol before 6.2, ~100 ms each on 5.10 under TCG) only
// where the address does not work.
Result<AttachedProbes> attach_kprobes(std::span<struct bpf_program* const> progs, uint64_t addr);

// A probe's link, and for a kretprobe made through tracefs its event there,
// removed after the link is gone.
class ProbeLink {
public:
    explicit ProbeLink(LinkPtr link, std::string tracefs_event = {})
        : link_(std::move(link)), event_(std::move(tracefs_event)) {}
    ProbeLink(ProbeLink&&) noexcept = default;
    ProbeLink& operator=(ProbeLink&&) = delete;
    ~ProbeLink();

private:
    LinkPtr link_;
    std::string event_;  // "itr/<name>", empty for a probe made through the PMU
};

// A program whose section names no function ("kprobe", "kretprobe"), on
// `func` (a kretprobe when its section says so). A kretprobe goes through
// tracefs where it can, to set how many calls it can follow at once: the
// kprobe PMU takes the kernel's default, which before 5.13 on kernels
// without CONFIG_PREEMPTION (Debian's 5.10) is one per CPU, so a table
// call nested in another (a REJECT's reply walking OUTPUT inside INPUT)
// loses its return.
Result<ProbeLink> attach_kprobe_to(struct bpf_program* prog, const char* func);

// Pure: the owner pid in a kprobe_events line of ours
// ("r64:itr/itr_1234_ipt_do_table ipt_do_table" -> 1234, event "itr/itr_1234_ipt_do_table").
struct TracefsProbe {
    int pid = 0;
    std::string event;
};
std::optional<TracefsProbe> parse_our_kprobe_event(std::string_view line);
// kprobe events of ours whose owner is gone, removed; one line each.
std::vector<std::string> remove_stale_kprobe_events();

}  // namespace itr
