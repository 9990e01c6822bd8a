// itr_netlink_probe: drives the netlink backend from a few flags and prints
// events in a simple, stable form. A test driver, not the product.
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "iptables_trace/checks.hpp"
#include "iptables_trace/netlink_backend.hpp"
#include "iptables_trace/options.hpp"
#include "internal.hpp"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

const char* kind_name(itr::RuleKind k)
{
    switch (k) {
    case itr::RuleKind::Rule: return "rule";
    case itr::RuleKind::Return: return "return";
    case itr::RuleKind::Policy: return "policy";
    default: return "unknown";
    }
}

std::string addr(const itr::Packet& p, bool src)
{
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(p.ip_version == 6 ? AF_INET6 : AF_INET, (src ? p.saddr : p.daddr).data(), buf, sizeof buf);
    return buf;
}

// What the backend says, as the app would show it.
class StderrDiagnostics final : public itr::Diagnostics {
public:
    void notice(std::string_view line) override
    {
        std::fprintf(stderr, "iptables-trace: %.*s\n", int(line.size()), line.data());
    }
    void error(const itr::Error& e) override
    {
        notice(e.what);
        if (!e.hint.empty())
            std::fprintf(stderr, "hint: %s\n", e.hint.c_str());
    }
    void log(std::string_view text) override { std::fprintf(stderr, "%.*s", int(text.size()), text.data()); }
};

int usage()
{
    std::fprintf(stderr,
                 "usage: itr_netlink_probe [-H addr] [--proto tcp|udp|icmp|icmp6] [-P port] [--icmpid id]\n"
                 "       [-p pid] [-N netns] [-c count] [--rcvbuf bytes] [--ready-file path] [--duration s]\n"
                 "       [--cleanup] [--check]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv)
{
    itr::Options opts;
    itr::netlink::Tuning tuning;
    double duration = 0;
    bool cleanup = false, check = false;
    std::string ready;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::exit(usage());
            }
            return argv[++i];
        };
        if (a == "-H") {
            itr::IpAddr ip;
            const std::string v = val();
            if (inet_pton(AF_INET, v.c_str(), ip.bytes.data()) == 1)
                ip.version = 4;
            else if (inet_pton(AF_INET6, v.c_str(), ip.bytes.data()) == 1)
                ip.version = 6;
            else
                return usage();
            opts.addr = ip;
        } else if (a == "--proto") {
            const std::string v = val();
            opts.proto = v == "tcp" ? itr::Proto::Tcp : v == "udp" ? itr::Proto::Udp
                       : v == "icmp" ? itr::Proto::Icmp : v == "icmp6" ? itr::Proto::Icmp6 : itr::Proto::Any;
        } else if (a == "-P") {
            opts.port = static_cast<uint16_t>(std::stoul(val()));
        } else if (a == "--icmpid") {
            opts.icmp_id = static_cast<uint16_t>(std::stoul(val()));
        } else if (a == "-p") {
            opts.pid = static_cast<uint32_t>(std::stoul(val()));
        } else if (a == "-N") {
            auto spec = itr::parse_netns_spec(val());
            if (!spec)
                return usage();
            opts.netns = *spec;
        } else if (a == "-c") {
            opts.catch_count = std::stoull(val());
        } else if (a == "--rcvbuf") {
            tuning.rcvbuf_bytes = std::stoi(val());
        } else if (a == "--ready-file") {
            ready = val();
        } else if (a == "--duration") {
            duration = std::stod(val());
        } else if (a == "--cleanup") {
            cleanup = true;
        } else if (a == "--check") {
            check = true;
        } else {
            return usage();
        }
    }

    struct sigaction sa {};
    sa.sa_handler = on_signal;
    for (int s : {SIGINT, SIGTERM, SIGHUP})
        sigaction(s, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    StderrDiagnostics diag;
    const auto provider = itr::make_netlink_provider();
    if (auto refusal = itr::capability_refusal(opts, provider->name(), provider->capabilities())) {
        std::fprintf(stderr, "iptables-trace: %s\n", refusal->c_str());
        return 2;
    }
    if (cleanup) {
        auto r = provider->cleanup_leftovers();
        if (!r) {
            std::fprintf(stderr, "iptables-trace: %s\n", r.error().what.c_str());
            return 1;
        }
        for (const auto& l : *r)
            std::printf("%s\n", l.c_str());
        return 0;
    }
    if (check) {
        auto why = provider->probe(opts);
        std::printf("%s\n", why ? why->c_str() : "available");
        return why ? 1 : 0;
    }

    auto be = itr::netlink::make_backend(opts, tuning, diag);
    if (!be) {
        diag.error(be.error());
        return 1;
    }
    if (!ready.empty()) {
        const int fd = open(ready.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0)
            close(fd);
    }
    uint64_t seen = 0, lost = 0;
    int rc = 0;
    const auto deadline = duration > 0 ? time(nullptr) + static_cast<time_t>(duration) : 0;
    auto on_event = [&](const itr::TraceEvent& ev) {
        if (g_stop || (opts.catch_count && seen >= opts.catch_count))
            return;
        ++seen;
        const auto& p = ev.pkt;
        std::string l4;
        if (p.sport)
            l4 = fmt::format(" sport={} dport={} flags=0x{:02x}", *p.sport, *p.dport, p.tcp_flags);
        if (p.has_icmp)
            l4 = fmt::format(" icmp_type={} icmp_id={} icmp_seq={}", p.icmp_type, p.icmp_id, p.icmp_seq);
        std::string mac = p.dst_mac ? fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", (*p.dst_mac)[0],
                                                  (*p.dst_mac)[1], (*p.dst_mac)[2], (*p.dst_mac)[3],
                                                  (*p.dst_mac)[4], (*p.dst_mac)[5])
                                    : "-";
        // The ipttrace=[...] part uses the app's token order so host tests
        // can grep either program's output the same way.
        const std::string line = fmt::format(
            "RULE if={} mac={} netns={} ip={} len={} proto={} src={} dst={}{} mono={} kind={} "
            "ipttrace=[pf={} in={} out={} table={} chain={} hook={} rulenum={}]\n",
            p.ifname, mac, p.netns.value_or(0), p.ip_version, p.ip_len, p.l4proto, addr(p, true), addr(p, false), l4,
            ev.mono_ns, kind_name(ev.rule_kind), ev.pf == 10 ? "PF_INET6" : "PF_INET", ev.in_dev, ev.out_dev,
            ev.table, ev.chain, ev.hook, ev.rulenum);
        if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size() || std::fflush(stdout) != 0) {
            g_stop = true;  // closed pipe
            rc = errno == EPIPE ? 0 : 1;
        }
    };
    auto on_lost = [&](uint64_t n, int) {
        lost += n;
        std::printf("LOST %llu\n", static_cast<unsigned long long>(n));
    };
    while (!g_stop && !(opts.catch_count && seen >= opts.catch_count) && !(deadline && time(nullptr) >= deadline)) {
        auto st = (*be)->poll(200, on_event, on_lost);
        if (!st) {
            std::fprintf(stderr, "iptables-trace: %s\n", st.error().what.c_str());
            rc = 1;
            break;
        }
    }
    std::fflush(stdout);
    std::fprintf(stderr, "summary: %s\n", (*be)->summary().c_str());
    return rc;
}
