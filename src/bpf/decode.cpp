#include "iptables_trace/decode.hpp"

#include <arpa/inet.h>

#include <cstddef>
#include <cstring>

#include <fmt/format.h>

#include "iptables_trace/event.h"

namespace itr {

// The C++ side of the ABI checks: if the C header and these disagree the
// build stops here rather than decoding garbage.
static_assert(sizeof(itr_event) == 272);
static_assert(sizeof(itr_pkt) == 88);
static_assert(sizeof(itr_config) == 56);
static_assert(offsetof(itr_event, ts_ns) == 0);
static_assert(offsetof(itr_event, cost_ns) == 8);
static_assert(offsetof(itr_event, kind) == 16);
static_assert(offsetof(itr_event, flags) == 20);
static_assert(offsetof(itr_event, verdict) == 40);
static_assert(offsetof(itr_event, table) == 56);
static_assert(offsetof(itr_event, chain) == 88);
static_assert(offsetof(itr_event, in_dev) == 152);
static_assert(offsetof(itr_event, out_dev) == 168);
static_assert(offsetof(itr_event, pkt) == 184);
static_assert(offsetof(itr_pkt, ifname) == 16);
static_assert(offsetof(itr_pkt, dst_mac) == 32);
static_assert(offsetof(itr_pkt, ip_len) == 40);
static_assert(offsetof(itr_pkt, sport_be) == 42);
static_assert(offsetof(itr_pkt, icmp_id_be) == 50);
static_assert(offsetof(itr_pkt, saddr) == 54);
static_assert(offsetof(itr_pkt, daddr) == 70);
static_assert(offsetof(itr_config, abi_version) == 8);
static_assert(offsetof(itr_config, port_be) == 20);
static_assert(offsetof(itr_config, addr) == 32);
static_assert(offsetof(itr_config, marked_only) == 48);

namespace {

template <std::size_t N>
void assign_bounded(std::string& dst, const char (&field)[N]) {
    dst.assign(field, strnlen(field, N));
}

// Every field back to its default, the strings' storage kept.
void reset_keeping_storage(TraceEvent& ev) {
    std::string table = std::move(ev.table), chain = std::move(ev.chain), in = std::move(ev.in_dev),
                out = std::move(ev.out_dev), ifname = std::move(ev.pkt.ifname);
    ev = TraceEvent{};
    ev.table = std::move(table);
    ev.chain = std::move(chain);
    ev.in_dev = std::move(in);
    ev.out_dev = std::move(out);
    ev.pkt.ifname = std::move(ifname);
}

}  // namespace

Result<TraceEvent> decode_event(const void* data, std::size_t size) {
    TraceEvent ev;
    if (auto st = decode_event_into(data, size, ev); !st) return st.error();
    return ev;
}

Status decode_event_into(const void* data, std::size_t size, TraceEvent& ev) {
    if (data == nullptr || size < sizeof(itr_event))
        return Error{fmt::format("short event: {} bytes, want {}", data ? size : 0, sizeof(itr_event)), {}};
    itr_event raw;
    std::memcpy(&raw, data, sizeof raw);

    reset_keeping_storage(ev);
    switch (raw.kind) {
    case ITR_EV_RULE: ev.kind = EventKind::Rule; break;
    case ITR_EV_TABLE: ev.kind = EventKind::Table; break;
    case ITR_EV_NFT: ev.kind = EventKind::Nft; break;
    default: return Error{fmt::format("unknown event kind {}", raw.kind), {}};
    }
    ev.mono_ns = raw.ts_ns;
    ev.pf = raw.pf;
    ev.hook = raw.hook;
    assign_bounded(ev.table, raw.table);
    assign_bounded(ev.chain, raw.chain);
    assign_bounded(ev.in_dev, raw.in_dev);
    assign_bounded(ev.out_dev, raw.out_dev);
    ev.depth = raw.depth;
    ev.truncated = (raw.flags & ITR_F_TRUNCATED) != 0;
    ev.admin_trace = (raw.flags & ITR_F_ADMIN_TRACE) != 0;
    if (ev.kind == EventKind::Rule) {
        ev.rulenum = raw.rulenum;
        switch (raw.rule_kind) {
        case ITR_RULE_RULE: ev.rule_kind = RuleKind::Rule; break;
        case ITR_RULE_RETURN: ev.rule_kind = RuleKind::Return; break;
        case ITR_RULE_POLICY: ev.rule_kind = RuleKind::Policy; break;
        default: ev.rule_kind = RuleKind::Unknown; break;
        }
    } else {
        ev.verdict = raw.verdict;
        if (raw.flags & ITR_F_HAS_COST) ev.cost_ns = raw.cost_ns;
    }

    const itr_pkt& rp = raw.pkt;
    Packet& p = ev.pkt;
    p.skb = rp.skb;
    if (rp.netns != 0) p.netns = rp.netns;
    p.pid = raw.pid;
    p.cpu = raw.cpu;
    assign_bounded(p.ifname, rp.ifname);
    if (raw.flags & ITR_F_HAS_MAC) {
        std::array<uint8_t, 6> mac;
        std::memcpy(mac.data(), rp.dst_mac, mac.size());
        p.dst_mac = mac;
    }
    const bool l3 = !(raw.flags & ITR_F_NO_L3) && (rp.ip_version == 4 || rp.ip_version == 6);
    if (l3) {
        p.ip_version = rp.ip_version;
        p.l4proto = rp.l4proto;
        p.ip_len = rp.ip_len;
        if (rp.ip_version == 4) {
            std::memcpy(p.saddr.data(), rp.saddr, 4);
            std::memcpy(p.daddr.data(), rp.daddr, 4);
        } else {
            std::memcpy(p.saddr.data(), rp.saddr, 16);
            std::memcpy(p.daddr.data(), rp.daddr, 16);
        }
        if (raw.flags & ITR_F_HAS_PORTS) {
            p.sport = ntohs(rp.sport_be);
            p.dport = ntohs(rp.dport_be);
            p.tcp_flags = rp.tcp_flags;
        }
        if (raw.flags & ITR_F_HAS_ICMP) {
            p.has_icmp = true;
            p.icmp_type = rp.icmp_type;
            p.icmp_code = rp.icmp_code;
            p.icmp_id = ntohs(rp.icmp_id_be);
            p.icmp_seq = ntohs(rp.icmp_seq_be);
        }
    }
    return ok_status();
}

}  // namespace itr
