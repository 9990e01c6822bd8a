// parse_cli: CLI11 recognises the flags; every value is validated here so
// each mistake gets one clear line, the same style whatever went wrong.
#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string_view>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "iptables_trace/backend.hpp"
#include "iptables_trace/options.hpp"

#ifndef ITR_VERSION
#define ITR_VERSION "0.0.0"
#endif

namespace itr {
namespace {

constexpr std::string_view kProg = "iptables-trace";
constexpr uint32_t kPidMax = kPidMaxLimit;
constexpr uint64_t kPageSize = 4096;
constexpr uint64_t kMaxPages = 65536;

struct Bad {
    std::string msg;
};

CliExit bad(std::string msg) { return CliExit{2, fmt::format("{}: {}", kProg, msg)}; }

// Decimal digits only: no sign, no spaces, no 0x.
std::optional<uint64_t> parse_u64(std::string_view s) {
    if (s.empty() || s.size() > 20) return std::nullopt;
    for (char c : s)
        if (c < '0' || c > '9') return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<IpAddr> parse_addr(const std::string& s) {
    IpAddr a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.version = 4;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.version = 6;
        return a;
    }
    return std::nullopt;
}

std::optional<Proto> parse_proto(std::string_view s) {
    if (s == "tcp") return Proto::Tcp;
    if (s == "udp") return Proto::Udp;
    if (s == "icmp") return Proto::Icmp;
    if (s == "icmp6" || s == "icmpv6") return Proto::Icmp6;
    if (s == "any" || s == "all") return Proto::Any;
    return std::nullopt;
}

std::string_view proto_text(Proto p) {
    switch (p) {
    case Proto::Tcp: return "tcp";
    case Proto::Udp: return "udp";
    case Proto::Icmp: return "icmp";
    case Proto::Icmp6: return "icmp6";
    case Proto::Any: break;
    }
    return "any";
}

// -B: "64" pages, or bytes with a K/KiB/M/MiB suffix ("256K").
std::variant<uint32_t, Bad> parse_buffer(std::string_view s) {
    const std::string want =
        "want a power-of-two number of 4 KiB pages (1..65536), or a size such as 256K or 4M";
    std::size_t digits = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
    auto num = parse_u64(s.substr(0, digits));
    std::string_view suffix = s.substr(digits);
    if (!num) return Bad{fmt::format("invalid buffer size '{}' for -B/--per-cpu-buffer: {}", s, want)};
    uint64_t pages;
    if (suffix.empty()) {
        pages = *num;
    } else {
        uint64_t mult;
        if (suffix == "K" || suffix == "k" || suffix == "KiB")
            mult = 1024;
        else if (suffix == "M" || suffix == "m" || suffix == "MiB")
            mult = 1024 * 1024;
        else
            return Bad{fmt::format("invalid buffer size '{}' for -B/--per-cpu-buffer: unknown unit '{}' (use K, KiB, "
                                   "M or MiB)",
                                   s, suffix)};
        if (*num > (kMaxPages * kPageSize) / mult + 1)
            return Bad{fmt::format("buffer size '{}' for -B/--per-cpu-buffer is too large: at most 256M", s)};
        const uint64_t bytes = *num * mult;
        if (bytes % kPageSize != 0)
            return Bad{fmt::format("buffer size '{}' for -B/--per-cpu-buffer is not a whole number of 4 KiB pages", s)};
        pages = bytes / kPageSize;
    }
    if (pages == 0 || pages > kMaxPages || (pages & (pages - 1)) != 0)
        return Bad{fmt::format("invalid buffer size '{}' for -B/--per-cpu-buffer: {} pages; {}", s, pages, want)};
    return static_cast<uint32_t>(pages);
}

std::string first_line(std::string s) {
    auto nl = s.find('\n');
    if (nl != std::string::npos) s.resize(nl);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

constexpr const char* kFooter = R"(Examples:
  iptables-trace -c 20                          trace the next 20 events of any packet
  iptables-trace -H 10.0.0.2 --proto tcp -P 22  SSH traffic to or from 10.0.0.2
  iptables-trace --proto icmp --icmpid 1234     one ping session
  iptables-trace -H fd00::1 --proto icmp6       ICMPv6 to or from fd00::1
  iptables-trace -N pid:1234 -t                 the netns of process 1234, relative times
  iptables-trace --drops-only -c 5              which rule dropped the next 5 packets?
  iptables-trace --json -c 100 > trace.jsonl    JSON Lines for scripts
  iptables-trace --check                        can this kernel run the tracer?
  iptables-trace --cleanup                      remove a stale instance left by a killed run

Filters combine with AND. PID is the task current when the event fired: for
received packets (softirq) it is unrelated to the packet.)";

}  // namespace

std::variant<Options, CliExit> parse_cli(int argc, const char* const* argv, const BackendRegistry& backends) {
    CLI::App app{"Trace iptables rule evaluation packet by packet: every table, chain and\n"
                 "rule a packet goes through, with each table's verdict and cost.",
                 std::string(kProg)};
    app.footer(kFooter);
    app.set_version_flag("--version", std::string(kProg) + " " + ITR_VERSION);

    std::string addr_s, proto_s, icmpid_s, port_s, pid_s, netns_s, count_s, buffer_s, backend_s, kmod_s, ready_s;
    bool json = false, tree = false, fate = false, drops_only = false, no_rule_text = false, check = false, cleanup = false, verbose = false, time_f = false, ts_f = false;
    auto* o_addr = app.add_option("-H,--ipaddr", addr_s, "IPv4 or IPv6 address, source or destination")
                       ->type_name("ADDR");
    auto* o_proto = app.add_option("--proto", proto_s, "tcp, udp, icmp, icmp6 or any (default any)")
                        ->type_name("PROTO");
    auto* o_icmpid = app.add_option("--icmpid", icmpid_s, "ICMP/ICMPv6 echo id, 0..65535")->type_name("ID");
    auto* o_port = app.add_option("-P,--port", port_s, "TCP/UDP/SCTP port, source or destination, 1..65535")
                       ->type_name("PORT");
    auto* o_pid = app.add_option("-p,--pid", pid_s, "only events fired in this process (tgid)")->type_name("PID");
    auto* o_netns = app.add_option("-N,--netns", netns_s,
                                   "network namespace: inode number, pid:N, a name under /var/run/netns, or a path")
                        ->type_name("SPEC");
    auto* o_count = app.add_option("-c,--catch-count", count_s, "stop after N printed lines (events; drops with --drops-only); 0 = until ^C")
                        ->type_name("N");
    auto* o_time = app.add_flag("-T,--time", time_f, "print the time of day, HH:MM:SS (default)");
    auto* o_ts = app.add_flag("-t,--timestamp", ts_f, "print seconds since the first event, µs resolution");
    auto* o_buf = app.add_option("-B,--per-cpu-buffer", buffer_s,
                                 "perf buffer per CPU: pages (power of two), or a size such as 256K (default 64)")
                      ->type_name("SIZE");
    auto* o_json = app.add_flag("--json", json, "write JSON Lines instead of columns");
    auto* o_tree = app.add_flag("--tree", tree,
                                "one block per packet and hook: its chains, rules, verdicts and what decided");
    auto* o_drops = app.add_flag("--drops-only", drops_only,
                                 "print only dropped packets, each with the rule or policy that dropped it");
    auto* o_fate = app.add_flag("--fate", fate,
                                "after each table, print what decided the packet's verdict (rule text or policy)");
    auto* o_norule = app.add_flag("--no-rule-text", no_rule_text,
                                  "do not read the rulesets (no rule text, no iptables-save runs)");
    app.add_flag("--check", check, "check that this kernel can run the tracer, then exit");
    app.add_flag("--cleanup", cleanup, "remove a stale module and pins, then exit");
    auto* o_kmod = app.add_option("--kmod", kmod_s, "use this module file instead of the embedded one")
                       ->type_name("PATH");
    auto* o_backend = app.add_option("--backend", backend_s, backends.choices() + " (default auto)")
                          ->type_name("NAME");
    auto* o_ready = app.add_option("--ready-file", ready_s, "create this file once tracing is live")
                        ->type_name("PATH");
    app.add_flag("-v,--verbose", verbose, "explain what is loaded and attached");
    for (CLI::Option* o : std::initializer_list<CLI::Option*>{o_addr, o_proto, o_icmpid, o_port, o_pid, o_netns, o_count, o_buf, o_kmod, o_backend, o_ready})
        o->multi_option_policy(CLI::MultiOptionPolicy::Throw);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        return CliExit{0, app.help()};
    } catch (const CLI::CallForAllHelp&) {
        return CliExit{0, app.help("", CLI::AppFormatMode::All)};
    } catch (const CLI::CallForVersion& e) {
        return CliExit{0, e.what()};
    } catch (const CLI::ParseError& e) {
        return bad(first_line(e.what()) + " (see --help)");
    }

    Options o;
    if (o_addr->count()) {
        auto a = parse_addr(addr_s);
        if (!a) return bad(fmt::format("invalid address '{}' for -H/--ipaddr: want an IPv4 or IPv6 address", addr_s));
        o.addr = *a;
    }
    if (o_proto->count()) {
        auto p = parse_proto(proto_s);
        if (!p) return bad(fmt::format("unknown protocol '{}' for --proto: want tcp, udp, icmp, icmp6 or any", proto_s));
        o.proto = *p;
    }
    if (o_icmpid->count()) {
        auto v = parse_u64(icmpid_s);
        if (!v || *v > 65535) return bad(fmt::format("invalid ICMP id '{}' for --icmpid: want 0..65535", icmpid_s));
        o.icmp_id = static_cast<uint16_t>(*v);
    }
    if (o_port->count()) {
        auto v = parse_u64(port_s);
        if (!v || *v < 1 || *v > 65535) return bad(fmt::format("invalid port '{}' for -P/--port: want 1..65535", port_s));
        o.port = static_cast<uint16_t>(*v);
    }
    if (o_pid->count()) {
        auto v = parse_u64(pid_s);
        if (!v || *v < 1 || *v > kPidMax)
            return bad(fmt::format("invalid pid '{}' for -p/--pid: want 1..{}", pid_s, kPidMax));
        o.pid = static_cast<uint32_t>(*v);
    }
    if (o_netns->count()) {
        auto spec = parse_netns_spec(netns_s);
        if (!spec) return bad(spec.error().what);
        o.netns = std::move(*spec);
    }
    if (o_count->count()) {
        auto v = parse_u64(count_s);
        if (!v)
            return bad(fmt::format("invalid count '{}' for -c/--catch-count: want a whole number >= 0 (0 = forever)",
                                   count_s));
        o.catch_count = *v;
    }
    if (o_time->count() && o_ts->count()) return bad("-T/--time and -t/--timestamp exclude each other");
    if (o_ts->count()) o.time_mode = TimeMode::SinceFirst;
    if (o_buf->count()) {
        auto r = parse_buffer(buffer_s);
        if (auto* b = std::get_if<Bad>(&r)) return bad(b->msg);
        o.perf_pages = std::get<uint32_t>(r);
    }
    if (o_backend->count()) {
        if (backend_s != "auto" && !backends.find(backend_s))
            return bad(fmt::format("unknown backend '{}' for --backend: want {}", backend_s, backends.choices()));
        o.backend = backend_s;
    }
    if (o_kmod->count()) {
        if (kmod_s.empty()) return bad("empty path for --kmod");
        o.kmod_path = kmod_s;
    }
    if (o_ready->count()) {
        if (ready_s.empty()) return bad("empty path for --ready-file");
        o.ready_file = ready_s;
    }
    o.json = json;
    o.tree = tree;
    o.fate = fate || drops_only;
    o.drops_only = drops_only;
    o.rule_text = !no_rule_text;
    o.check = check;
    o.cleanup = cleanup;
    o.verbose = verbose;

    // Combinations that can never match, or flags that would be ignored.
    const bool icmp_proto = o.proto == Proto::Icmp || o.proto == Proto::Icmp6;
    if (o.icmp_id && !(icmp_proto || o.proto == Proto::Any))
        return bad(fmt::format("--icmpid needs --proto icmp, icmp6 or any, not {}", proto_text(o.proto)));
    if (o.port && icmp_proto) return bad(fmt::format("-P/--port cannot be used with --proto {}", proto_text(o.proto)));
    if (o.port && o.icmp_id) return bad("-P/--port and --icmpid exclude each other");
    if (o.addr && o.addr->version == 4 && o.proto == Proto::Icmp6)
        return bad("--proto icmp6 cannot match the IPv4 address given with -H");
    if (o.addr && o.addr->version == 6 && o.proto == Proto::Icmp)
        return bad("--proto icmp cannot match the IPv6 address given with -H (use icmp6)");
    if (const BackendProvider* named = backends.find(o.backend))
        if (auto refusal = capability_refusal(o, named->name(), named->capabilities())) return bad(*refusal);
    if (o.check && o.cleanup) return bad("--check and --cleanup exclude each other");
    // The view marks what decided each table call itself: --fate would add nothing.
    if (o.tree && (o.json || o.fate))
        return bad(fmt::format("--tree cannot be combined with {}", o.json ? "--json" : drops_only ? "--drops-only" : "--fate"));
    if (o.cleanup) {
        for (CLI::Option* opt : std::initializer_list<CLI::Option*>{o_addr, o_proto, o_icmpid, o_port, o_pid, o_netns, o_count, o_time, o_ts, o_buf, o_json,
                          o_tree, o_drops, o_fate, o_norule, o_kmod, o_backend, o_ready})
            if (opt->count())
                return bad(fmt::format("--cleanup takes no other option than -v (got {})", opt->get_name()));
    }
    return o;
}

}  // namespace itr
