#include "kprobe_attach.hpp"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include "iptables_trace/sys.hpp"

namespace itr {
namespace {

// The kprobe PMU's type and its retprobe bit ("config:0").
std::optional<std::pair<uint32_t, uint32_t>> kprobe_pmu()
{
    std::ifstream t("/sys/bus/event_source/devices/kprobe/type");
    std::ifstream r("/sys/bus/event_source/devices/kprobe/format/retprobe");
    uint32_t type = 0, bit = 0;
    std::string fmt;
    if (!(t >> type) || !(r >> fmt) || fmt.rfind("config:", 0) != 0)
        return std::nullopt;
    bit = uint32_t(std::strtoul(fmt.c_str() + 7, nullptr, 10));
    if (bit >= 64)
        return std::nullopt;
    return std::make_pair(type, bit);
}

// The link owns the perf event. nullptr (errno set) on failure.
struct bpf_link* attach_at(struct bpf_program* prog, uint64_t addr, bool retprobe)
{
    static const auto pmu = kprobe_pmu();
    if (!pmu) {
        errno = ENOENT;
        return nullptr;
    }
    struct perf_event_attr attr {};
    attr.size = sizeof(attr);
    attr.type = pmu->first;
    attr.config = retprobe ? (1ULL << pmu->second) : 0;
    attr.kprobe_func = 0;  // no name: kprobe_addr is the address
    attr.kprobe_addr = addr;
    const int pfd = int(syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
    if (pfd < 0)
        return nullptr;
    struct bpf_link* l = bpf_program__attach_perf_event(prog, pfd);
    if (!l) {
        const int e = errno;
        ::close(pfd);
        errno = e;
    }
    return l;
}

bool is_retprobe(struct bpf_program* prog)
{
    return std::string(bpf_program__section_name(prog)).rfind("kretprobe", 0) == 0;
}

}  // namespace

Result<AttachedProbes> attach_kprobes(std::span<struct bpf_program* const> progs, uint64_t addr)
{
    AttachedProbes out;
    out.by_address = true;
    for (auto* prog : progs) {
        struct bpf_link* l = addr ? attach_at(prog, addr, is_retprobe(prog)) : nullptr;
        if (!l) {
            out.by_address = false;
            l = bpf_program__attach(prog);
        }
        if (!l)
            return Error{std::string("attaching ") + bpf_program__name(prog) + ": " + errno_text(errno), ""};
        out.links.emplace_back(l);
    }
    return out;
}

Result<LinkPtr> attach_kprobe_to(struct bpf_program* prog, const char* func)
{
    struct bpf_link* l = bpf_program__attach_kprobe(prog, is_retprobe(prog), func);
    if (!l)
        return Error{std::string("attaching ") + bpf_program__name(prog) + " to " + func + ": " + errno_text(errno),
                     ""};
    return LinkPtr(l);
}

}  // namespace itr
