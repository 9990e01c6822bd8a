// NFT_MSG_TRACE decoding and chain-call correlation (nft_trace.hpp).
//
// Attributes are walked by attrs.hpp: every one must fit, the walk must end
// exactly at nlmsg_len, and each known attribute must have its exact size.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include <cstring>

#include "attrs.hpp"
#include "iptables_trace/names.hpp"
#include "iptables_trace/nft_trace.hpp"

namespace itr::nft {

namespace {

using namespace detail;

// Conntrack attributes since 6.16; older UAPI headers do not name them.
constexpr uint16_t kAttrCtId = 18;
constexpr uint16_t kAttrCtDirection = 19;
constexpr uint16_t kAttrCtStatus = 20;
constexpr uint16_t kAttrCtState = 21;

std::string decode_verdict(Bytes p, Verdict& v) {
    bool have_code = false;
    std::string err = walk_attrs(p, [&](uint16_t type, Bytes a) -> std::string {
        switch (type) {
        case NFTA_VERDICT_CODE:
            if (auto e = want_size(a, 4, "verdict code"); !e.empty()) return e;
            v.code = int32_t(be32(a));
            have_code = true;
            return "";
        case NFTA_VERDICT_CHAIN: {
            std::string chain;
            if (auto e = get_string(a, "verdict chain", chain); !e.empty()) return e;
            v.chain = std::move(chain);
            return "";
        }
        default:
            return "";  // NFTA_VERDICT_CHAIN_ID and newer: not for us
        }
    });
    if (!err.empty()) return err;
    if (!have_code) return "verdict without a code";
    return "";
}

Error decode_error(const std::string& why) { return Error{"nft trace message: " + why, ""}; }

}  // namespace

bool Verdict::terminal() const {
    switch (base()) {
    case verdict_code::Accept:
    case verdict_code::Drop:
    case verdict_code::Stolen:
    case verdict_code::Queue:
    case verdict_code::Repeat:
    case verdict_code::Stop:
        return true;
    default:
        return false;
    }
}

std::string verdict_name(int32_t code) { return nft_verdict_name(code); }

Result<TraceMessage> decode_trace_message(std::span<const uint8_t> bytes) {
    nfgenmsg nfg{};
    Bytes attrs;
    if (auto e = split_nfnl_message(bytes, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE, "NFT_MSG_TRACE", nfg, attrs);
        !e.empty())
        return decode_error(e);

    TraceMessage m;
    m.family = nfg.nfgen_family;
    bool have_type = false, have_id = false;
    uint32_t type = 0;
    auto u32 = [](Bytes a, const char* what, std::optional<uint32_t>& out) {
        if (auto e = want_size(a, 4, what); !e.empty()) return e;
        out = be32(a);
        return std::string();
    };
    auto u16 = [](Bytes a, const char* what, std::optional<uint16_t>& out) {
        if (auto e = want_size(a, 2, what); !e.empty()) return e;
        out = be16(a);
        return std::string();
    };
    std::string err = walk_attrs(attrs, [&](uint16_t t, Bytes a) -> std::string {
        switch (t) {
        case NFTA_TRACE_TABLE: return get_string(a, "table", m.table);
        case NFTA_TRACE_CHAIN: return get_string(a, "chain", m.chain);
        case NFTA_TRACE_RULE_HANDLE:
            if (auto e = want_size(a, 8, "rule handle"); !e.empty()) return e;
            m.handle = be64(a);
            return "";
        case NFTA_TRACE_TYPE:
            if (auto e = want_size(a, 4, "type"); !e.empty()) return e;
            type = be32(a);
            have_type = true;
            return "";
        case NFTA_TRACE_VERDICT: {
            Verdict v;
            if (auto e = decode_verdict(a, v); !e.empty()) return e;
            m.verdict = std::move(v);
            return "";
        }
        case NFTA_TRACE_ID:
            if (auto e = want_size(a, 4, "id"); !e.empty()) return e;
            m.id = be32(a);
            have_id = true;
            return "";
        case NFTA_TRACE_LL_HEADER: m.packet.ll.assign(a.begin(), a.end()); return "";
        case NFTA_TRACE_NETWORK_HEADER: m.packet.network.assign(a.begin(), a.end()); return "";
        case NFTA_TRACE_TRANSPORT_HEADER: m.packet.transport.assign(a.begin(), a.end()); return "";
        case NFTA_TRACE_IIF: return u32(a, "iif", m.packet.iif);
        case NFTA_TRACE_IIFTYPE: return u16(a, "iiftype", m.packet.iiftype);
        case NFTA_TRACE_OIF: return u32(a, "oif", m.packet.oif);
        case NFTA_TRACE_OIFTYPE: return u16(a, "oiftype", m.packet.oiftype);
        case NFTA_TRACE_MARK: return u32(a, "mark", m.mark);
        case NFTA_TRACE_NFPROTO: return u32(a, "nfproto", m.nfproto);
        case NFTA_TRACE_POLICY: return u32(a, "policy", m.policy);
        case kAttrCtId: return u32(a, "ct id", m.ct.id);
        case kAttrCtDirection:
            if (auto e = want_size(a, 1, "ct direction"); !e.empty()) return e;
            m.ct.direction = a[0];
            return "";
        case kAttrCtStatus: return u32(a, "ct status", m.ct.status);
        case kAttrCtState: return u32(a, "ct state", m.ct.state);
        default: return "";  // NFTA_TRACE_PAD and attributes newer than this code
        }
    });
    if (!err.empty()) return decode_error(err);
    if (!have_type) return decode_error("no type");
    if (!have_id) return decode_error("no id");
    if (m.table.empty()) return decode_error("no table");
    if (m.chain.empty()) return decode_error("no chain");

    switch (type) {
    case NFT_TRACETYPE_POLICY:
        m.type = TraceType::Policy;
        m.kind = HitKind::Policy;
        break;
    case NFT_TRACETYPE_RETURN:
        // Up to 6.6: with a handle, an explicit `return` rule; without, the
        // chain's end.
        m.type = TraceType::Return;
        m.kind = m.handle ? HitKind::Rule : HitKind::Return;
        break;
    case NFT_TRACETYPE_RULE: {
        if (!m.verdict) return decode_error("rule event without a verdict");
        m.type = TraceType::Rule;
        // Since 6.7: the chain's end is a RULE event with verdict continue
        // (or return) and no handle.
        const int32_t v = m.verdict->code;
        const bool ends = v == verdict_code::Continue || v == verdict_code::Return;
        m.kind = (!m.handle && ends) ? HitKind::Return : HitKind::Rule;
        break;
    }
    default:
        return decode_error("unknown type " + std::to_string(type));
    }
    return m;
}

// ---------------------------------------------------------------------------

TraceCorrelator::TraceCorrelator(size_t max_open) : max_open_(max_open ? max_open : 1) {}

TraceRecord TraceCorrelator::add(TraceMessage msg) {
    ++stats_.messages;
    TraceRecord rec;
    auto it = open_.find(msg.id);
    const bool has_packet = !msg.packet.empty();
    const bool same_call =
        it != open_.end() && !has_packet && it->second->family == msg.family && it->second->table == msg.table;
    if (same_call) {
        lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first
    } else {
        if (it != open_.end()) {
            lru_.erase(it->second);
            open_.erase(it);
        }
        Call c;
        c.id = msg.id;
        c.family = msg.family;
        c.table = msg.table;
        // The first message of a call is in its base chain (a jump or goto
        // is reported in the chain it leaves), and so is every policy.
        if (has_packet || msg.kind == HitKind::Policy) c.base_chain = msg.chain;
        if (has_packet) c.packet = std::make_shared<const PacketInfo>(msg.packet);
        else ++stats_.calls_without_packet;
        ++stats_.calls;
        lru_.push_front(std::move(c));
        it = open_.emplace(msg.id, lru_.begin()).first;
        rec.call_start = true;
        while (open_.size() > max_open_) {
            open_.erase(lru_.back().id);
            lru_.pop_back();
            ++stats_.evicted;
        }
    }
    Call& call = *it->second;
    rec.packet = call.packet;
    rec.index_in_call = call.next_index++;
    rec.base_chain = call.base_chain;
    rec.base_chain_end = msg.kind == HitKind::Return && !msg.handle && msg.chain == call.base_chain;
    rec.call_end = msg.kind == HitKind::Policy || (msg.verdict && msg.verdict->terminal());
    if (rec.call_end) {
        lru_.erase(it->second);
        open_.erase(it);
    }
    rec.msg = std::move(msg);
    return rec;
}

}  // namespace itr::nft
