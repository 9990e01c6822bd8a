// nf_tables trace messages into NftRule events (netlink_decode.hpp).
#include <linux/netfilter.h>

#include <cstring>
#include <vector>

#include "iptables_trace/netlink_decode.hpp"
#include "iptables_trace/nft_rules.hpp"

namespace itr::netlink {

namespace {

constexpr uint16_t kArphrdEther = 1;

// The base chains iptables-nft creates are named after their hook.
std::optional<uint32_t> xtables_hook(const std::string& chain) {
    static const char* const names[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
    for (uint32_t i = 0; i < 5; ++i)
        if (chain == names[i]) return i;
    return std::nullopt;
}

// The kernel sends the network header (at most 40 bytes) and the transport
// header apart. They are decoded as one buffer when the network part is
// the whole header (IPv4 without cut options, IPv6 without extension
// headers); otherwise only the network part (no ports).
void fill_packet(const nft::PacketInfo& pi, uint32_t nfproto, const DecodeContext& ctx, TraceEvent& ev) {
    Packet& pkt = ev.pkt;
    if (ctx.ifname) {
        if (pi.iif) ev.in_dev = ctx.ifname(*pi.iif);
        if (pi.oif) ev.out_dev = ctx.ifname(*pi.oif);
    }
    pkt.ifname = !ev.in_dev.empty() ? ev.in_dev : ev.out_dev;
    if (pi.iiftype == kArphrdEther && pi.ll.size() >= 14) {
        std::array<uint8_t, 6> mac{};
        std::memcpy(mac.data(), pi.ll.data(), 6);
        pkt.dst_mac = mac;
    }
    const auto& nh = pi.network;
    if (nh.empty()) return;
    const uint8_t family = nfproto == NFPROTO_IPV4 || nfproto == NFPROTO_IPV6 ? uint8_t(nfproto) : 0;
    const uint8_t version = nh[0] >> 4;
    const bool whole = (version == 4 && size_t{nh[0] & 0x0fu} * 4 == nh.size()) ||
                       (version == 6 && nh.size() == 40 && !is_ipv6_ext(nh[6]));
    if (whole && !pi.transport.empty()) {
        std::vector<uint8_t> both(nh);
        both.insert(both.end(), pi.transport.begin(), pi.transport.end());
        decode_l3(both.data(), both.size(), family, pkt);
    } else {
        decode_l3(nh.data(), nh.size(), family, pkt);
    }
}

}  // namespace

NftTraceHandler::NftTraceHandler(std::string own_table) : own_table_(std::move(own_table)) {}

std::optional<TraceEvent> NftTraceHandler::handle(std::span<const uint8_t> bytes, const DecodeContext& ctx) {
    ++stats_.messages;
    auto msg = nft::decode_trace_message(bytes);
    if (!msg) {
        ++stats_.malformed;
        return std::nullopt;
    }
    if (msg->family == NFPROTO_INET && msg->table == own_table_) {
        ++stats_.own;
        return std::nullopt;
    }
    const nft::TraceRecord rec = corr_.add(std::move(*msg));
    if (rec.base_chain_end) return std::nullopt;  // the policy follows
    const nft::TraceMessage& m = rec.msg;

    TraceEvent ev;
    ev.kind = EventKind::NftRule;
    ev.mono_ns = ctx.recv_mono_ns;
    ev.pkt.netns = ctx.netns;
    ev.pf = m.family;
    ev.table = m.table;
    ev.chain = m.chain;
    ev.base_chain = rec.base_chain;
    if (auto h = nft::is_xtables_table(m.family, m.table) ? xtables_hook(rec.base_chain) : std::nullopt)
        ev.hook = *h;
    else
        ev.hook_unknown = true;
    switch (m.kind) {
    case nft::HitKind::Rule:
        ev.rule_kind = RuleKind::Rule;
        ev.handle = m.handle;
        if (m.verdict) {
            ev.nft_verdict = m.verdict->code;
            ev.nft_verdict_known = true;
            if (m.verdict->chain && (m.verdict->code == nft::verdict_code::Jump ||
                                     m.verdict->code == nft::verdict_code::Goto))
                ev.verdict_target = *m.verdict->chain;
        }
        break;
    case nft::HitKind::Return:
        ev.rule_kind = RuleKind::Return;
        ev.nft_verdict = nft::verdict_code::Return;
        ev.nft_verdict_known = true;
        break;
    case nft::HitKind::Policy:
        ev.rule_kind = RuleKind::Policy;
        if (m.policy) {
            ev.nft_verdict = static_cast<int32_t>(*m.policy);
            ev.nft_verdict_known = true;
        }
        break;
    }
    if (rec.packet) fill_packet(*rec.packet, m.nfproto.value_or(m.family), ctx, ev);
    ++stats_.events;
    return ev;
}

}  // namespace itr::netlink
