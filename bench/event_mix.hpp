// A realistic mix of raw perf-buffer events (struct itr_event, event.h) for
// the benchmarks: what one traced packet stream looks like on the wire.
// Per packet the module backend sends one or more RULE events (ipttrace=)
// and then the TABLE event (iptables=) of the same call; nf_tables setups
// send NFT events. The mix: IPv4 ICMP echo, IPv4 TCP SYN through a user
// chain (jump + return), IPv6 UDP hitting a chain policy, IPv4 UDP through
// nf_tables, an IPv6 ICMPv6 echo, and a TCP packet with no MAC header.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "iptables_trace/event.h"

namespace itr::bench {

inline void set_name(char* dst, std::size_t cap, std::string_view s) {
    std::memset(dst, 0, cap);
    std::memcpy(dst, s.data(), s.size() < cap ? s.size() : cap);
}
template <std::size_t N>
void set_name(char (&dst)[N], std::string_view s) {
    set_name(dst, N, s);
}

struct PacketSpec {
    int version;           // 4 or 6
    uint8_t proto;         // IPPROTO_*
    const char* src;
    const char* dst;
    uint16_t sport, dport; // or ICMP id/seq
    uint8_t icmp_type;
    uint8_t tcp_flags;
    bool mac;
    const char* ifname;
    uint16_t ip_len;
};

inline itr_pkt make_pkt(const PacketSpec& s, uint64_t skb) {
    itr_pkt p{};
    p.skb = skb;
    p.netns = 4026531840u;
    p.ifindex = 3;
    set_name(p.ifname, s.ifname);
    if (s.mac) {
        const uint8_t mac[6] = {0x02, 0x42, 0xac, 0x11, 0x00, 0x02};
        std::memcpy(p.dst_mac, mac, 6);
    }
    p.ip_version = static_cast<uint8_t>(s.version);
    p.l4proto = s.proto;
    p.ip_len = s.ip_len;
    inet_pton(s.version == 4 ? AF_INET : AF_INET6, s.src, p.saddr);
    inet_pton(s.version == 4 ? AF_INET : AF_INET6, s.dst, p.daddr);
    if (s.proto == 1 || s.proto == 58) {
        p.icmp_type = s.icmp_type;
        p.icmp_id_be = htons(s.sport);
        p.icmp_seq_be = htons(s.dport);
    } else {
        p.sport_be = htons(s.sport);
        p.dport_be = htons(s.dport);
        p.tcp_flags = s.tcp_flags;
    }
    return p;
}

inline uint32_t pkt_flags(const PacketSpec& s) {
    uint32_t f = 0;
    if (s.mac) f |= ITR_F_HAS_MAC;
    if (s.proto == 1 || s.proto == 58)
        f |= ITR_F_HAS_ICMP;
    else
        f |= ITR_F_HAS_PORTS;
    return f;
}

inline itr_event rule_event(const PacketSpec& s, uint64_t skb, uint64_t ts, const char* table, const char* chain,
                            uint32_t hook, uint32_t rulenum, uint32_t rule_kind) {
    itr_event e{};
    e.ts_ns = ts;
    e.kind = ITR_EV_RULE;
    e.flags = pkt_flags(s);
    e.cpu = 1;
    e.pid = 0;
    e.hook = hook;
    e.pf = s.version == 4 ? ITR_NFPROTO_IPV4 : ITR_NFPROTO_IPV6;
    e.rulenum = rulenum;
    e.rule_kind = rule_kind;
    set_name(e.table, table);
    set_name(e.chain, chain);
    set_name(e.in_dev, hook == 3 ? "" : s.ifname);
    set_name(e.out_dev, hook == 3 ? s.ifname : "");
    e.pkt = make_pkt(s, skb);
    return e;
}

inline itr_event table_event(const PacketSpec& s, uint64_t skb, uint64_t ts, const char* table, uint32_t hook,
                             uint32_t verdict, uint64_t cost_ns, uint32_t kind = ITR_EV_TABLE,
                             const char* chain = "") {
    itr_event e{};
    e.ts_ns = ts;
    e.cost_ns = cost_ns;
    e.kind = kind;
    e.flags = pkt_flags(s) | ITR_F_HAS_COST;
    e.cpu = 1;
    e.pid = 1234;
    e.hook = hook;
    e.pf = kind == ITR_EV_NFT ? ITR_NFPROTO_INET : (s.version == 4 ? ITR_NFPROTO_IPV4 : ITR_NFPROTO_IPV6);
    e.verdict = verdict;
    set_name(e.table, table);
    set_name(e.chain, chain);
    e.pkt = make_pkt(s, skb);
    return e;
}

// The mix, in stream order; timestamps advance 1 µs per event from base_ns.
inline std::vector<itr_event> event_mix(uint64_t base_ns = 1'700'000'000'000'000'000ull % 86'400'000'000'000ull) {
    const PacketSpec icmp4{4, 1, "10.0.0.1", "10.0.0.2", 0x1234, 7, 8, 0, true, "veth0", 84};
    const PacketSpec tcp4{4, 6, "192.168.10.20", "192.168.10.1", 40030, 443, 0, 0x02, true, "enp0s8", 60};
    const PacketSpec udp6{6, 17, "fd00:99::1", "2001:db8:1:2::53", 53000, 53, 0, 0, true, "eth0", 92};
    const PacketSpec udp4nft{4, 17, "172.16.0.5", "172.16.0.9", 5353, 5353, 0, 0, true, "br0", 120};
    const PacketSpec icmp6{6, 58, "fe80::1", "fe80::2", 0x42, 3, 128, 0, true, "veth1", 104};
    const PacketSpec tcp4out{4, 6, "10.1.2.3", "93.184.216.34", 51514, 80, 0, 0x18, false, "eth0", 1500};
    std::vector<itr_event> v;
    uint64_t ts = base_ns;
    auto next = [&] { return ts += 1000; };
    uint64_t skb = 0xffff8df50291d200ull;
    // IPv4 ping: filter INPUT rule 2 ACCEPT.
    v.push_back(rule_event(icmp4, skb, next(), "filter", "INPUT", 1, 2, ITR_RULE_RULE));
    v.push_back(table_event(icmp4, skb, next(), "filter", 1, 1, 4211));
    // TCP SYN: raw PREROUTING policy, then filter INPUT -> user chain -> return -> rule 5.
    skb += 0x100;
    v.push_back(rule_event(tcp4, skb, next(), "raw", "PREROUTING", 0, 1, ITR_RULE_POLICY));
    v.push_back(table_event(tcp4, skb, next(), "raw", 0, 1, 1320));
    v.push_back(rule_event(tcp4, skb, next(), "filter", "INPUT", 1, 3, ITR_RULE_RULE));
    v.push_back(rule_event(tcp4, skb, next(), "filter", "SSH_GUARD", 1, 2, ITR_RULE_RETURN));
    v.push_back(rule_event(tcp4, skb, next(), "filter", "INPUT", 1, 5, ITR_RULE_RULE));
    v.push_back(table_event(tcp4, skb, next(), "filter", 1, 1, 9876));
    // IPv6 UDP: filter INPUT policy DROP.
    skb += 0x100;
    v.push_back(rule_event(udp6, skb, next(), "filter", "INPUT", 1, 7, ITR_RULE_POLICY));
    v.push_back(table_event(udp6, skb, next(), "filter", 1, 0, 3050));
    // nftables: one base chain call.
    skb += 0x100;
    v.push_back(table_event(udp4nft, skb, next(), "fw", 1, 1, 2100, ITR_EV_NFT, "input"));
    // ICMPv6 echo: filter INPUT rule 1 ACCEPT.
    skb += 0x100;
    v.push_back(rule_event(icmp6, skb, next(), "filter", "INPUT", 1, 1, ITR_RULE_RULE));
    v.push_back(table_event(icmp6, skb, next(), "filter", 1, 1, 2650));
    // Outgoing TCP (no MAC header yet): filter OUTPUT rule 1, nat OUTPUT policy.
    skb += 0x100;
    v.push_back(rule_event(tcp4out, skb, next(), "filter", "OUTPUT", 3, 1, ITR_RULE_RULE));
    v.push_back(table_event(tcp4out, skb, next(), "filter", 3, 1, 1800));
    v.push_back(rule_event(tcp4out, skb, next(), "nat", "OUTPUT", 3, 1, ITR_RULE_POLICY));
    v.push_back(table_event(tcp4out, skb, next(), "nat", 3, 1, 2400));
    return v;
}

// An iptables-save text matching the mix (for the enrichment benchmark):
// filter INPUT has 7 rules, SSH_GUARD 1, OUTPUT 1.
inline const char* mix_ruleset_v4() {
    return "*filter\n"
           ":INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:SSH_GUARD - [0:0]\n"
           "-A INPUT -i lo -j ACCEPT\n"
           "-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT\n"
           "-A INPUT -p tcp -m tcp --dport 22 -j SSH_GUARD\n"
           "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
           "-A INPUT -p tcp -m tcp --dport 443 -m comment --comment \"web \\\"front\\\"\" -j ACCEPT\n"
           "-A INPUT -p udp -m udp --dport 53 -j ACCEPT\n"
           "-A INPUT -s 10.0.0.0/8 -j DROP\n"
           "-A OUTPUT -d 93.184.216.0/24 -p tcp -j ACCEPT\n"
           "-A SSH_GUARD -s 192.168.99.0/24 -j DROP\n"
           "COMMIT\n"
           "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
           "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n"
           "COMMIT\n";
}
inline const char* mix_ruleset_v6() {
    return "*filter\n"
           ":INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
           "-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n"
           "-A INPUT -i lo -j ACCEPT\n"
           "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
           "-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\n"
           "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
           "-A INPUT -p udp -m udp --dport 5353 -j ACCEPT\n"
           "COMMIT\n";
}

}  // namespace itr::bench
