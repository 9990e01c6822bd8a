// Parsed command line. Built by parse_cli (pure, unit-tested); nothing here
// touches the kernel.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "iptables_trace/netns.hpp"
#include "iptables_trace/sink.hpp"

namespace itr {

enum class Proto { Any, Tcp, Udp, Icmp, Icmp6 };

struct IpAddr {
    uint8_t version = 4;                // 4 or 6
    std::array<uint8_t, 16> bytes{};    // network order, IPv4 in the first 4
};

struct Options {
    std::optional<IpAddr> addr;         // -H/--ipaddr: source or destination
    Proto proto = Proto::Any;           // --proto
    std::optional<uint16_t> port;       // -P/--port: source or destination
    std::optional<uint16_t> icmp_id;    // --icmpid
    std::optional<uint32_t> pid;        // -p/--pid
    std::optional<NetnsSpec> netns;     // -N/--netns
    uint64_t catch_count = 0;           // -c: 0 = forever
    TimeMode time_mode = TimeMode::Clock;  // -T (default) / -t
    uint32_t perf_pages = 64;           // -B, pages per CPU (power of two)
    std::string backend = "auto";       // --backend: "auto" or a provider's name
    bool json = false;
    bool tree = false;                  // --tree: one block per packet and hook (tree_view.hpp)
    bool rule_text = true;              // --no-rule-text turns the ruleset lookup off
    bool fate = false;                  // --fate: one verdict line per table call
    bool drops_only = false;            // --drops-only: only the fate of dropped packets
    bool check = false;                 // --check: preflight + verifier load, no attach
    bool cleanup = false;               // --cleanup: remove a stale instance and exit
    std::optional<std::string> kmod_path;  // --kmod: module file instead of the embedded one
    std::optional<std::string> ready_file;  // --ready-file: created once tracing is live
    bool verbose = false;
    int64_t main_start_ns = 0;  // CLOCK_MONOTONIC when main() began (-v start-up times); 0 = unknown
};

struct CliExit {
    int code;             // 0 for --help / --version, 2 for bad input
    std::string message;  // what to print (stdout for code 0, stderr otherwise)
};

class BackendRegistry;

// --backend takes "auto" or a name from the registry; flags that need a
// capability the named backend lacks are refused here.
std::variant<Options, CliExit> parse_cli(int argc, const char* const* argv, const BackendRegistry& backends);

}  // namespace itr
