#include "kprobe_attach.hpp"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

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

namespace {

constexpr const char* kGroup = "itr";

std::string tracefs_dir()
{
    for (const char* d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
        if (::access((std::string(d) + "/kprobe_events").c_str(), W_OK) == 0)
            return d;
    return {};
}

bool write_kprobe_events(const std::string& dir, const std::string& line)
{
    Fd fd(::open((dir + "/kprobe_events").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    return fd && ::write(fd.get(), line.data(), line.size()) == ssize_t(line.size());
}

// A kretprobe event in tracefs with maxactive set, attached; nullopt
// (errno set) when tracefs cannot make one.
std::optional<ProbeLink> kretprobe_through_tracefs(struct bpf_program* prog, const char* func)
{
    const std::string dir = tracefs_dir();
    if (dir.empty())
        return std::nullopt;
    const long cpus = sysconf(_SC_NPROCESSORS_CONF);
    const long maxactive = std::min(4096L, std::max(64L, 8 * (cpus > 0 ? cpus : 1)));
    const std::string name = "itr_" + std::to_string(getpid()) + "_" + func;
    const std::string event = std::string(kGroup) + "/" + name;
    if (!write_kprobe_events(dir, "r" + std::to_string(maxactive) + ":" + event + " " + func + "\n"))
        return std::nullopt;
    ProbeLink owner(LinkPtr{}, event);  // removes the event on every way out
    std::ifstream idf(dir + "/events/" + event + "/id");
    uint64_t id = 0;
    if (!(idf >> id))
        return std::nullopt;
    struct perf_event_attr attr {};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_TRACEPOINT;
    attr.config = id;
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    const int pfd = int(syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
    if (pfd < 0)
        return std::nullopt;
    struct bpf_link* l = bpf_program__attach_perf_event(prog, pfd);
    if (!l) {
        const int e = errno;
        ::close(pfd);
        errno = e;
        return std::nullopt;
    }
    return ProbeLink(LinkPtr(l), event);
}

}  // namespace

ProbeLink::~ProbeLink()
{
    link_.reset();
    if (event_.empty())
        return;
    if (const std::string dir = tracefs_dir(); !dir.empty())
        write_kprobe_events(dir, "-:" + event_ + "\n");
}

Result<ProbeLink> attach_kprobe_to(struct bpf_program* prog, const char* func)
{
    if (is_retprobe(prog))
        if (auto t = kretprobe_through_tracefs(prog, func))
            return std::move(*t);
    struct bpf_link* l = bpf_program__attach_kprobe(prog, is_retprobe(prog), func);
    if (!l)
        return Error{std::string("attaching ") + bpf_program__name(prog) + " to " + func + ": " + errno_text(errno),
                     ""};
    return ProbeLink(LinkPtr(l));
}

std::optional<TracefsProbe> parse_our_kprobe_event(std::string_view line)
{
    // "r64:itr/itr_1234_ipt_do_table ipt_do_table"
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.empty() || (line[0] != 'r' && line[0] != 'p'))
        return std::nullopt;
    const std::string_view rest = line.substr(colon + 1);
    const std::string_view prefix = "itr/itr_";
    if (rest.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    const size_t end = rest.find_first_of(" \t");
    const std::string_view event = rest.substr(0, end);
    std::string_view digits = event.substr(prefix.size());
    int pid = 0;
    size_t i = 0;
    while (i < digits.size() && digits[i] >= '0' && digits[i] <= '9' && i < 9)
        pid = pid * 10 + (digits[i++] - '0');
    if (i == 0 || i >= digits.size() || digits[i] != '_' || pid <= 0)
        return std::nullopt;
    return TracefsProbe{pid, std::string(event)};
}

std::vector<std::string> remove_stale_kprobe_events()
{
    std::vector<std::string> removed;
    const std::string dir = tracefs_dir();
    if (dir.empty())
        return removed;
    std::ifstream in(dir + "/kprobe_events");
    std::string line;
    std::vector<TracefsProbe> stale;
    while (std::getline(in, line))
        if (auto p = parse_our_kprobe_event(line); p && p->pid != getpid() && ::kill(p->pid, 0) != 0 && errno == ESRCH)
            stale.push_back(*p);
    for (const auto& p : stale)
        if (write_kprobe_events(dir, "-:" + p.event + "\n"))
            removed.push_back("kprobe event " + p.event + " (left by pid " + std::to_string(p.pid) + ")");
    return removed;
}

}  // namespace itr
