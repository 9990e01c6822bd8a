#include "loader.hpp"

#include "iptables_trace/counter_names.hpp"
#include "iptables_trace/event.h"

#include <bpf/bpf.h>
#include <time.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace itr {
namespace {

// libbpf's hook carries no context: the channel of the live LibbpfLog.
Diagnostics* g_diag = nullptr;

bool debug_wanted()
{
    const char* d = std::getenv("ITR_LIBBPF_DEBUG");
    return d && *d && std::strcmp(d, "0") != 0;
}

void pass_on(const char* prefix, const char* fmt, va_list args)
{
    va_list sizing;
    va_copy(sizing, args);
    const int n = std::vsnprintf(nullptr, 0, fmt, sizing);
    va_end(sizing);
    if (n < 0)
        return;
    std::string text(prefix);
    const size_t at = text.size();
    text.resize(at + size_t(n) + 1);
    std::vsnprintf(text.data() + at, size_t(n) + 1, fmt, args);
    text.resize(at + size_t(n));
    g_diag->log(text);
}

int print_default(enum libbpf_print_level level, const char* fmt, va_list args)
{
    if (level == LIBBPF_DEBUG || !g_diag)
        return 0;
    pass_on("", fmt, args);
    return 0;
}

int print_timed(enum libbpf_print_level, const char* fmt, va_list args)
{
    if (!g_diag)
        return 0;
    struct timespec t {};
    clock_gettime(CLOCK_MONOTONIC, &t);
    char stamp[32];
    std::snprintf(stamp, sizeof(stamp), "[%10.3f] ", double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6);
    pass_on(stamp, fmt, args);
    return 0;
}

}  // namespace

LibbpfLog::LibbpfLog(Diagnostics* diag) : previous_diag_(g_diag)
{
    g_diag = diag;
    previous_fn_ = libbpf_set_print(debug_wanted() ? print_timed : print_default);
}

LibbpfLog::~LibbpfLog()
{
    libbpf_set_print(previous_fn_);
    g_diag = previous_diag_;
}

VerifierStats::VerifierStats(struct bpf_object* obj)
{
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj)
    {
        if (bpf_program__autoload(prog))
            logs_.emplace_back(prog, std::string(4096, '\0'));
    }
    for (auto& [prog, buf] : logs_) {
        bpf_program__set_log_buf(prog, buf.data(), buf.size());
        bpf_program__set_log_level(prog, 4);  // BPF_LOG_STATS
    }
}

std::vector<std::string> VerifierStats::lines() const
{
    std::vector<std::string> out;
    for (const auto& [prog, buf] : logs_)
        out.push_back(std::string(bpf_program__name(prog)) + ": " + verifier_stats_summary(buf.c_str()));
    return out;
}

std::string verifier_stats_summary(const char* log)
{
    std::string out;
    if (const char* p = std::strstr(log, "processed "))
        out += std::to_string(std::strtoul(p + 10, nullptr, 10)) + " insns walked";
    if (const char* t = std::strstr(log, "verification time ")) {
        char ms[32];
        std::snprintf(ms, sizeof(ms), "%.1f", double(std::strtoul(t + 18, nullptr, 10)) / 1000.0);
        out += std::string(out.empty() ? "" : " ") + "in " + ms + " ms";
    }
    return out.empty() ? "no verifier statistics" : out;
}

void report_programs(struct bpf_object* obj, std::ostream& out, std::string_view skipped)
{
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj)
    {
        if (!bpf_program__autoload(prog)) {
            out << "  skip  " << bpf_program__name(prog) << " (" << skipped << ")\n";
            continue;
        }
        struct bpf_prog_info info {};
        __u32 len = sizeof(info);
        bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
        out << "  ok    " << bpf_program__name(prog) << " (" << info.xlated_prog_len / 8 << " insns";
        if (info.verified_insns)  // 5.16+: what the verifier walked, the load-time cost
            out << ", " << info.verified_insns << " verified";
        out << ")\n";
    }
}

uint64_t percpu_sum(int map_fd, uint32_t key)
{
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return 0;
    std::vector<__u64> vals(static_cast<size_t>(ncpu));
    uint64_t sum = 0;
    if (bpf_map_lookup_elem(map_fd, &key, vals.data()) == 0)
        for (auto v : vals)
            sum += v;
    return sum;
}

std::string bpf_stats_text(int stats_map_fd)
{
    std::string s = "; bpf:";
    for (uint32_t k = 0; k < ITR_STAT_MAX; k++)
        s += " " + std::string(kBpfStatNames[k]) + "=" + std::to_string(percpu_sum(stats_map_fd, k));
    return s;
}

}  // namespace itr
