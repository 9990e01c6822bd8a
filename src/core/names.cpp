#include "iptables_trace/names.hpp"

#include <array>

#include <fmt/format.h>

#include "iptables_trace/event.h"

namespace itr {
namespace {

std::string unknown(uint32_t v) { return fmt::format("UNKNOWN({})", v); }

template <std::size_t N>
std::optional<std::string_view> pick(const std::array<std::string_view, N>& names, uint32_t i) {
    if (i < N) return names[i];
    return std::nullopt;
}

constexpr std::array<std::string_view, 6> kVerdicts{"DROP", "ACCEPT", "STOLEN", "QUEUE", "REPEAT", "STOP"};
constexpr std::array<std::string_view, 6> kInetHooks{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
                                                     "INGRESS"};
constexpr std::array<std::string_view, 3> kArpHooks{"IN", "OUT", "FORWARD"};
constexpr std::array<std::string_view, 6> kBridgeHooks{"PREROUTING", "INPUT",       "FORWARD",
                                                       "OUTPUT",     "POSTROUTING", "BROUTING"};
constexpr std::array<std::string_view, 2> kNetdevHooks{"INGRESS", "EGRESS"};

struct Flag {
    uint8_t bit;
    std::string_view name;
};
constexpr std::array<Flag, 8> kTcpFlags{{{0x02, "SYN"},
                                         {0x01, "FIN"},
                                         {0x04, "RST"},
                                         {0x10, "ACK"},
                                         {0x08, "PSH"},
                                         {0x20, "URG"},
                                         {0x40, "ECE"},
                                         {0x80, "CWR"}}};

}  // namespace

std::optional<std::string_view> known_verdict_name(uint32_t raw) { return pick(kVerdicts, raw & 0xffu); }

std::string verdict_name(uint32_t raw) {
    if (auto n = known_verdict_name(raw)) return std::string(*n);
    return unknown(raw & 0xffu);
}

std::string nft_verdict_name(int32_t code) {
    if (code >= 0) {
        if (auto n = known_verdict_name(static_cast<uint32_t>(code))) return std::string(*n);
        return "UNKNOWN(" + std::to_string(code) + ")";
    }
    switch (code) {
    case -1: return "CONTINUE";
    case -2: return "BREAK";
    case -3: return "JUMP";
    case -4: return "GOTO";
    case -5: return "RETURN";
    default: return "UNKNOWN(" + std::to_string(code) + ")";
    }
}

std::string nft_verdict_text(int32_t code, std::string_view target) {
    std::string s = nft_verdict_name(code);
    if (code >= 0 && (code & 0xff) == 3) s += ":" + std::to_string(static_cast<uint32_t>(code) >> 16);
    if (!target.empty() && (code == -3 || code == -4)) {
        s += ':';
        s += target;
    }
    return s;
}

std::optional<std::string_view> known_hook_name(uint32_t hook, uint32_t nfproto) {
    switch (nfproto) {
    case ITR_NFPROTO_ARP: return pick(kArpHooks, hook);
    case ITR_NFPROTO_BRIDGE: return pick(kBridgeHooks, hook);
    case ITR_NFPROTO_NETDEV: return pick(kNetdevHooks, hook);
    default: return pick(kInetHooks, hook);
    }
}

std::string hook_name(uint32_t hook, uint32_t nfproto) {
    if (auto n = known_hook_name(hook, nfproto)) return std::string(*n);
    return unknown(hook);
}

std::optional<std::string_view> known_pf_name(uint32_t nfproto) {
    switch (nfproto) {
    case ITR_NFPROTO_IPV4: return "PF_INET";
    case ITR_NFPROTO_IPV6: return "PF_INET6";
    default: return std::nullopt;
    }
}

std::string pf_name(uint32_t nfproto) {
    if (auto n = known_pf_name(nfproto)) return std::string(*n);
    return unknown(nfproto);
}

std::optional<std::string_view> known_nft_family_name(uint32_t nfproto) {
    switch (nfproto) {
    case ITR_NFPROTO_INET: return "inet";
    case ITR_NFPROTO_IPV4: return "ip";
    case ITR_NFPROTO_ARP: return "arp";
    case ITR_NFPROTO_NETDEV: return "netdev";
    case ITR_NFPROTO_BRIDGE: return "bridge";
    case ITR_NFPROTO_IPV6: return "ip6";
    default: return std::nullopt;
    }
}

std::string nft_family_name(uint32_t nfproto) {
    if (auto n = known_nft_family_name(nfproto)) return std::string(*n);
    return unknown(nfproto);
}

std::vector<std::string_view> tcp_flag_names(uint8_t flags) {
    std::vector<std::string_view> names;
    for (const auto& f : kTcpFlags)
        if (flags & f.bit) names.push_back(f.name);
    return names;
}

void append_tcp_flags(std::string& out, uint8_t flags) {
    bool first = true;
    for (const auto& f : kTcpFlags) {
        if (!(flags & f.bit)) continue;
        if (!first) out.push_back(',');
        out.append(f.name);
        first = false;
    }
}

std::optional<std::string_view> l4proto_name(uint8_t proto) {
    switch (proto) {
    case 1: return "icmp";
    case 2: return "igmp";
    case 4: return "ipip";
    case 6: return "tcp";
    case 17: return "udp";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "icmp6";
    case 89: return "ospf";
    case 103: return "pim";
    case 112: return "vrrp";
    case 132: return "sctp";
    case 136: return "udplite";
    default: return std::nullopt;
    }
}

}  // namespace itr
