// Pure decoding of nfnetlink_log TRACE records into TraceEvent.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include "iptables_trace/netlink_decode.hpp"
#include "iptables_trace/sys.hpp"

namespace itr::netlink {

namespace {

uint16_t be16_at(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

uint32_t be32_at(const uint8_t* p)
{
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint64_t be64_at(const uint8_t* p) { return (uint64_t{be32_at(p)} << 32) | be32_at(p + 4); }

// Transport header at data[0..len): ports, flags, ICMP fields.
void decode_l4(const uint8_t* data, size_t len, uint8_t proto, Packet& pkt)
{
    switch (proto) {
    case IPPROTO_TCP:
        if (len >= 14) {
            pkt.sport = be16_at(data);
            pkt.dport = be16_at(data + 2);
            pkt.tcp_flags = data[13];
        }
        break;
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
    case IPPROTO_SCTP:
        if (len >= 4) {
            pkt.sport = be16_at(data);
            pkt.dport = be16_at(data + 2);
        }
        break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        if (len >= 2) {
            pkt.has_icmp = true;
            pkt.icmp_type = data[0];
            pkt.icmp_code = data[1];
            const bool echo = proto == IPPROTO_ICMP ? (data[0] == 0 || data[0] == 8)
                                                    : (data[0] == 128 || data[0] == 129);
            if (echo && len >= 8) {
                pkt.icmp_id = be16_at(data + 4);
                pkt.icmp_seq = be16_at(data + 6);
            }
        }
        break;
    default:
        break;
    }
}

}  // namespace

bool is_ipv6_ext(uint8_t nh)
{
    return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
           nh == IPPROTO_FRAGMENT || nh == IPPROTO_AH;
}

std::optional<TracePrefix> parse_trace_prefix(std::string_view s)
{
    constexpr std::string_view head = "TRACE: ";
    if (s.substr(0, head.size()) != head)
        return std::nullopt;
    s.remove_prefix(head.size());
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0' || s.back() == '\n'))
        s.remove_suffix(1);
    // table:chain:comment:num; the chain name may itself hold ':', so cut
    // the table at the first colon and the comment and number at the last two.
    const auto c1 = s.find(':');
    const auto c3 = s.rfind(':');
    if (c1 == std::string_view::npos || c3 == std::string_view::npos || c3 <= c1)
        return std::nullopt;
    const auto c2 = s.rfind(':', c3 - 1);
    if (c2 == std::string_view::npos || c2 <= c1)
        return std::nullopt;
    TracePrefix out;
    out.table = std::string(s.substr(0, c1));
    out.chain = std::string(s.substr(c1 + 1, c2 - c1 - 1));
    const auto comment = s.substr(c2 + 1, c3 - c2 - 1);
    const auto num = s.substr(c3 + 1);
    if (out.table.empty() || out.chain.empty() || num.empty())
        return std::nullopt;
    if (comment == "rule")
        out.kind = RuleKind::Rule;
    else if (comment == "return")
        out.kind = RuleKind::Return;
    else if (comment == "policy")
        out.kind = RuleKind::Policy;
    else
        out.kind = RuleKind::Unknown;
    const auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), out.rulenum);
    if (ec != std::errc{} || ptr != num.data() + num.size())
        return std::nullopt;
    return out;
}

void decode_l3(const uint8_t* data, size_t len, uint8_t family, Packet& pkt)
{
    if (len < 1)
        return;
    const uint8_t version = data[0] >> 4;
    if (family == 0)
        family = version == 6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
    if (family == NFPROTO_IPV4 && version == 4 && len >= 20) {
        const size_t ihl = size_t{data[0] & 0x0fu} * 4;
        pkt.ip_version = 4;
        pkt.ip_len = be16_at(data + 2);
        pkt.l4proto = data[9];
        pkt.saddr = {};
        pkt.daddr = {};
        std::memcpy(pkt.saddr.data(), data + 12, 4);
        std::memcpy(pkt.daddr.data(), data + 16, 4);
        const uint16_t frag_off = be16_at(data + 6) & 0x1fff;
        if (ihl >= 20 && ihl <= len && frag_off == 0)
            decode_l4(data + ihl, len - ihl, pkt.l4proto, pkt);
        return;
    }
    if (family == NFPROTO_IPV6 && version == 6 && len >= 40) {
        pkt.ip_version = 6;
        pkt.ip_len = static_cast<uint16_t>(be16_at(data + 4) + 40);
        std::memcpy(pkt.saddr.data(), data + 8, 16);
        std::memcpy(pkt.daddr.data(), data + 24, 16);
        uint8_t nh = data[6];
        size_t off = 40;
        for (int i = 0; i < 8 && is_ipv6_ext(nh); ++i) {
            if (off + 8 > len) {
                pkt.l4proto = nh;
                return;
            }
            const uint8_t next = data[off];
            size_t ext_len = 0;
            if (nh == IPPROTO_FRAGMENT) {
                ext_len = 8;
                if ((be16_at(data + off + 2) & 0xfff8) != 0) {  // not the first fragment
                    pkt.l4proto = next;
                    return;
                }
            } else if (nh == IPPROTO_AH) {
                ext_len = (size_t{data[off + 1]} + 2) * 4;
            } else {
                ext_len = (size_t{data[off + 1]} + 1) * 8;
            }
            nh = next;
            off += ext_len;
        }
        pkt.l4proto = nh;
        if (off <= len)
            decode_l4(data + off, len - off, nh, pkt);
    }
}

namespace {

struct AttrTable {
    const nlattr* a[NFULA_MAX + 1] = {};
};

int attr_cb(const nlattr* attr, void* data)
{
    auto* tb = static_cast<AttrTable*>(data);
    const int type = mnl_attr_get_type(attr);
    if (mnl_attr_type_valid(attr, NFULA_MAX) < 0)
        return MNL_CB_OK;  // newer attribute: ignore
    tb->a[type] = attr;
    return MNL_CB_OK;
}

}  // namespace

Result<NflogRecord> parse_nflog_message(const nlmsghdr* nlh)
{
    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_ULOG ||
        NFNL_MSG_TYPE(nlh->nlmsg_type) != NFULNL_MSG_PACKET)
        return Error{"nfnetlink_log: not a packet message", ""};
    if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg)))
        return Error{"nfnetlink_log: message too short", ""};
    const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    AttrTable tb;
    if (mnl_attr_parse(nlh, sizeof(nfgenmsg), attr_cb, &tb) < 0)
        return Error{"nfnetlink_log: malformed attributes", ""};

    NflogRecord rec;
    rec.family = nfg->nfgen_family;
    auto payload = [](const nlattr* a) { return static_cast<const uint8_t*>(mnl_attr_get_payload(a)); };
    auto plen = [](const nlattr* a) { return size_t{mnl_attr_get_payload_len(a)}; };

    if (const nlattr* a = tb.a[NFULA_PACKET_HDR]; a && plen(a) >= 3) {
        rec.hw_protocol = be16_at(payload(a));
        rec.hook = payload(a)[2];
    }
    if (const nlattr* a = tb.a[NFULA_SEQ]; a && plen(a) >= 4)
        rec.seq = be32_at(payload(a));
    if (const nlattr* a = tb.a[NFULA_MARK]; a && plen(a) >= 4)
        rec.mark = be32_at(payload(a));
    if (const nlattr* a = tb.a[NFULA_IFINDEX_INDEV]; a && plen(a) >= 4)
        rec.indev = be32_at(payload(a));
    if (const nlattr* a = tb.a[NFULA_IFINDEX_OUTDEV]; a && plen(a) >= 4)
        rec.outdev = be32_at(payload(a));
    if (const nlattr* a = tb.a[NFULA_TIMESTAMP]; a && plen(a) >= 16) {
        const uint64_t sec = be64_at(payload(a));
        const uint64_t usec = be64_at(payload(a) + 8);
        if (sec != 0 || usec != 0)
            rec.tstamp_real_ns = static_cast<int64_t>(sec * 1'000'000'000ull + usec * 1000ull);
    }
    // The link-layer header; its first six bytes are the destination MAC
    // when it is Ethernet (ARPHRD_ETHER = 1, 14-byte header).
    if (const nlattr* a = tb.a[NFULA_HWHEADER]; a && plen(a) >= 14) {
        bool ether = true;
        if (const nlattr* t = tb.a[NFULA_HWTYPE]; t && plen(t) >= 2)
            ether = be16_at(payload(t)) == 1;
        if (ether) {
            std::array<uint8_t, 6> mac{};
            std::memcpy(mac.data(), payload(a), 6);
            rec.hw_dst = mac;
        }
    }
    if (const nlattr* a = tb.a[NFULA_PREFIX]) {
        const char* p = static_cast<const char*>(mnl_attr_get_payload(a));
        rec.prefix.assign(p, strnlen(p, plen(a)));
    }
    if (const nlattr* a = tb.a[NFULA_PAYLOAD]) {
        rec.payload = payload(a);
        rec.payload_len = plen(a);
    }
    return rec;
}

std::optional<TraceEvent> record_to_event(const NflogRecord& rec, const DecodeContext& ctx)
{
    auto prefix = parse_trace_prefix(rec.prefix);
    if (!prefix)
        return std::nullopt;
    TraceEvent ev;
    ev.kind = EventKind::Rule;
    ev.table = std::move(prefix->table);
    ev.chain = std::move(prefix->chain);
    ev.rulenum = prefix->rulenum;
    ev.rule_kind = prefix->kind;
    ev.pf = rec.family;
    ev.hook = rec.hook;
    if (ctx.ifname) {
        if (rec.indev)
            ev.in_dev = ctx.ifname(rec.indev);
        if (rec.outdev)
            ev.out_dev = ctx.ifname(rec.outdev);
    }
    ev.pkt.skb = 0;  // not known to nfnetlink_log
    ev.pkt.netns = ctx.netns;
    ev.pkt.ifname = !ev.in_dev.empty() ? ev.in_dev : ev.out_dev;
    ev.pkt.dst_mac = rec.hw_dst;
    if (rec.payload && rec.payload_len)
        decode_l3(rec.payload, rec.payload_len, rec.family, ev.pkt);
    // The packet's own timestamp when the kernel gave one and it is sane
    // (forwarded skbs may carry a delivery time in another clock).
    ev.mono_ns = ctx.recv_mono_ns;
    if (rec.tstamp_real_ns) {
        const int64_t mono = *rec.tstamp_real_ns - ctx.realtime_minus_mono_ns;
        const int64_t delta = static_cast<int64_t>(ctx.recv_mono_ns) - mono;
        if (mono > 0 && delta >= 0 && delta < 10'000'000'000LL)
            ev.mono_ns = static_cast<uint64_t>(mono);
    }
    return ev;
}

uint64_t SeqTracker::observe(uint32_t seq)
{
    uint64_t gap = 0;
    if (next_) {
        // Unsigned difference handles the wrap at 2^32; a value behind the
        // expected one (reordering cannot happen on one socket) counts as 0.
        const uint32_t d = seq - *next_;
        if (d < 0x80000000u)
            gap = d;
    }
    next_ = seq + 1;
    lost_ += gap;
    return gap;
}

std::string format_owner_comment(const TableOwner& o)
{
    return "iptables-trace pid=" + std::to_string(o.pid) + " start=" + std::to_string(o.start_time);
}

std::optional<TableOwner> parse_owner_comment(std::string_view c)
{
    constexpr std::string_view kHead = "iptables-trace pid=", kStart = " start=";
    auto digits = [](std::string_view s, uint64_t max, uint64_t& out) {
        if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0'))
            return false;
        uint64_t v = 0;
        for (char ch : s) {
            if (ch < '0' || ch > '9' || v > (max - uint64_t(ch - '0')) / 10)
                return false;
            v = v * 10 + uint64_t(ch - '0');
        }
        out = v;
        return true;
    };
    if (c.substr(0, kHead.size()) != kHead)
        return std::nullopt;
    c.remove_prefix(kHead.size());
    const size_t sp = c.find(kStart);
    if (sp == std::string_view::npos)
        return std::nullopt;
    uint64_t pid = 0, start = 0;
    if (!digits(c.substr(0, sp), kPidMaxLimit, pid) || pid == 0 ||
        !digits(c.substr(sp + kStart.size()), UINT64_MAX, start))
        return std::nullopt;
    return TableOwner{int(pid), start};
}

bool kernel_at_least(std::string_view release, int major, int minor)
{
    int v[2] = {0, 0};
    size_t i = 0;
    for (int k = 0; k < 2; ++k) {
        const size_t start = i;
        while (i < release.size() && release[i] >= '0' && release[i] <= '9' && i - start < 6)
            v[k] = v[k] * 10 + (release[i++] - '0');
        if (i == start)
            return false;
        if (k == 0) {
            if (i >= release.size() || release[i] != '.')
                return false;
            ++i;
        }
    }
    return v[0] > major || (v[0] == major && v[1] >= minor);
}

}  // namespace itr::netlink
