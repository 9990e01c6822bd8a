// Netlink backend, pure parts: TRACE prefixes, NFULA decoding from
// synthesized messages, sequence gaps, filter -> nft match translation.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <vector>

#include "iptables_trace/netlink_decode.hpp"

using namespace itr;
using namespace itr::netlink;

TEST(NetlinkPrefix, RuleReturnPolicy)
{
    auto r = parse_trace_prefix("TRACE: filter:INPUT:rule:3 ");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->table, "filter");
    EXPECT_EQ(r->chain, "INPUT");
    EXPECT_EQ(r->kind, RuleKind::Rule);
    EXPECT_EQ(r->rulenum, 3u);

    r = parse_trace_prefix("TRACE: filter:USERC:return:2 ");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->kind, RuleKind::Return);
    EXPECT_EQ(r->rulenum, 2u);

    r = parse_trace_prefix("TRACE: raw:PREROUTING:policy:1 ");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->table, "raw");
    EXPECT_EQ(r->kind, RuleKind::Policy);
}

TEST(NetlinkPrefix, ChainNameWithColon)
{
    auto r = parse_trace_prefix("TRACE: filter:my:chain:rule:7 ");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->chain, "my:chain");
    EXPECT_EQ(r->rulenum, 7u);
}

TEST(NetlinkPrefix, RejectsOtherPrefixes)
{
    EXPECT_FALSE(parse_trace_prefix("IN=eth0 OUT= "));
    EXPECT_FALSE(parse_trace_prefix("TRACE: filter:INPUT:rule: "));
    EXPECT_FALSE(parse_trace_prefix("TRACE: filter:INPUT:rule:x "));
    EXPECT_FALSE(parse_trace_prefix("TRACE: filter "));
    EXPECT_FALSE(parse_trace_prefix(""));
}

namespace {

// Builds an NFULNL_MSG_PACKET the way nfnetlink_log lays it out.
struct MsgBuilder {
    std::vector<char> buf = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh;
    explicit MsgBuilder(uint8_t family)
    {
        nlh = mnl_nlmsg_put_header(buf.data());
        nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
        auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
        nfg->nfgen_family = family;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = htons(0);
    }
    void hdr(uint16_t proto, uint8_t hook)
    {
        nfulnl_msg_packet_hdr h{htons(proto), hook, 0};
        mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof h, &h);
    }
    void u32(uint16_t type, uint32_t v) { mnl_attr_put_u32(nlh, type, htonl(v)); }
    void u16(uint16_t type, uint16_t v) { mnl_attr_put_u16(nlh, type, htons(v)); }
    void str(uint16_t type, const char* s) { mnl_attr_put_strz(nlh, type, s); }
    void bytes(uint16_t type, const std::vector<uint8_t>& b) { mnl_attr_put(nlh, type, b.size(), b.data()); }
    void tstamp(uint64_t sec, uint64_t usec)
    {
        nfulnl_msg_packet_timestamp ts{};
        ts.sec = htobe64(sec);
        ts.usec = htobe64(usec);
        mnl_attr_put(nlh, NFULA_TIMESTAMP, sizeof ts, &ts);
    }
};

std::vector<uint8_t> ipv4_icmp_echo()
{
    return {0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 99, 0, 1, 10, 99, 0, 2,
            // ICMP echo request id 0x4242 seq 7
            0x08, 0x00, 0x00, 0x00, 0x42, 0x42, 0x00, 0x07};
}

DecodeContext ctx()
{
    DecodeContext c;
    c.ifname = [](uint32_t i) { return i == 5 ? std::string("veth0") : std::string("if") + std::to_string(i); };
    c.netns = 4026531840u;
    c.realtime_minus_mono_ns = 1'700'000'000'000'000'000LL;  // realtime = mono + this
    c.recv_mono_ns = 5'000'000'000ull;
    return c;
}

}  // namespace

TEST(NetlinkDecode, Ipv4IcmpTraceRecord)
{
    MsgBuilder m(NFPROTO_IPV4);
    m.hdr(0x0800, NF_INET_LOCAL_IN);
    m.u32(NFULA_IFINDEX_INDEV, 5);
    m.u16(NFULA_HWTYPE, 1);
    m.bytes(NFULA_HWHEADER, {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 1, 2, 3, 4, 5, 6, 0x08, 0x00});
    m.str(NFULA_PREFIX, "TRACE: filter:INPUT:rule:2 ");
    m.u32(NFULA_SEQ, 41);
    // 4.5 s monotonic, expressed in realtime
    m.tstamp(1'700'000'004ull, 500'000ull);
    m.bytes(NFULA_PAYLOAD, ipv4_icmp_echo());

    auto rec = parse_nflog_message(m.nlh);
    ASSERT_TRUE(rec) << rec.error().what;
    EXPECT_EQ(rec->seq, 41u);
    EXPECT_EQ(rec->indev, 5u);
    EXPECT_EQ(rec->hook, NF_INET_LOCAL_IN);

    auto ev = record_to_event(*rec, ctx());
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->kind, EventKind::Rule);
    EXPECT_EQ(ev->table, "filter");
    EXPECT_EQ(ev->chain, "INPUT");
    EXPECT_EQ(ev->rulenum, 2u);
    EXPECT_EQ(ev->rule_kind, RuleKind::Rule);
    EXPECT_EQ(ev->pf, static_cast<uint32_t>(NFPROTO_IPV4));
    EXPECT_EQ(ev->hook, static_cast<uint32_t>(NF_INET_LOCAL_IN));
    EXPECT_EQ(ev->in_dev, "veth0");
    EXPECT_EQ(ev->out_dev, "");
    EXPECT_EQ(ev->pkt.ifname, "veth0");
    ASSERT_TRUE(ev->pkt.dst_mac);
    EXPECT_EQ((*ev->pkt.dst_mac)[0], 0xaa);
    EXPECT_EQ((*ev->pkt.dst_mac)[5], 0xff);
    EXPECT_EQ(ev->pkt.skb, 0u);
    EXPECT_FALSE(ev->pkt.pid);
    EXPECT_FALSE(ev->pkt.cpu);
    EXPECT_EQ(ev->pkt.netns, 4026531840u);
    EXPECT_EQ(ev->pkt.ip_version, 4);
    EXPECT_EQ(ev->pkt.ip_len, 84);
    EXPECT_EQ(ev->pkt.l4proto, IPPROTO_ICMP);
    EXPECT_EQ(ev->pkt.saddr[0], 10);
    EXPECT_EQ(ev->pkt.saddr[3], 1);
    EXPECT_EQ(ev->pkt.daddr[3], 2);
    EXPECT_TRUE(ev->pkt.has_icmp);
    EXPECT_EQ(ev->pkt.icmp_type, 8);
    EXPECT_EQ(ev->pkt.icmp_id, 0x4242);
    EXPECT_EQ(ev->pkt.icmp_seq, 7);
    EXPECT_FALSE(ev->verdict);
    EXPECT_FALSE(ev->cost_ns);
    EXPECT_EQ(ev->mono_ns, 4'500'000'000ull);  // from the packet's timestamp
}

TEST(NetlinkDecode, NoTimestampUsesReceiveTime)
{
    MsgBuilder m(NFPROTO_IPV4);
    m.hdr(0x0800, NF_INET_LOCAL_OUT);
    m.u32(NFULA_IFINDEX_OUTDEV, 9);
    m.str(NFULA_PREFIX, "TRACE: filter:OUTPUT:policy:1 ");
    m.bytes(NFULA_PAYLOAD, ipv4_icmp_echo());
    auto rec = parse_nflog_message(m.nlh);
    ASSERT_TRUE(rec);
    auto ev = record_to_event(*rec, ctx());
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->mono_ns, 5'000'000'000ull);
    EXPECT_EQ(ev->rule_kind, RuleKind::Policy);
    EXPECT_EQ(ev->out_dev, "if9");
    EXPECT_EQ(ev->pkt.ifname, "if9");
    EXPECT_FALSE(ev->pkt.dst_mac);
}

TEST(NetlinkDecode, Ipv6TcpAfterHopByHop)
{
    std::vector<uint8_t> p = {0x60, 0, 0, 0, 0x00, 0x1c, 0x00 /* hop-by-hop */, 64};
    for (int i = 0; i < 16; ++i)
        p.push_back(i == 0 ? 0xfd : i == 15 ? 1 : 0);
    for (int i = 0; i < 16; ++i)
        p.push_back(i == 0 ? 0xfd : i == 15 ? 2 : 0);
    // hop-by-hop: next TCP, len 0 (8 bytes), PadN
    std::vector<uint8_t> hbh = {IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0};
    p.insert(p.end(), hbh.begin(), hbh.end());
    std::vector<uint8_t> tcp = {0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff,
                                0, 0, 0, 0};
    p.insert(p.end(), tcp.begin(), tcp.end());

    MsgBuilder m(NFPROTO_IPV6);
    m.hdr(0x86dd, NF_INET_LOCAL_IN);
    m.str(NFULA_PREFIX, "TRACE: filter:INPUT:rule:1 ");
    m.bytes(NFULA_PAYLOAD, p);
    auto rec = parse_nflog_message(m.nlh);
    ASSERT_TRUE(rec);
    auto ev = record_to_event(*rec, ctx());
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->pf, static_cast<uint32_t>(NFPROTO_IPV6));
    EXPECT_EQ(ev->pkt.ip_version, 6);
    EXPECT_EQ(ev->pkt.ip_len, 40 + 28);
    EXPECT_EQ(ev->pkt.l4proto, IPPROTO_TCP);
    EXPECT_EQ(ev->pkt.saddr[0], 0xfd);
    EXPECT_EQ(ev->pkt.daddr[15], 2);
    EXPECT_EQ(ev->pkt.sport, 40000);
    EXPECT_EQ(ev->pkt.dport, 80);
    EXPECT_EQ(ev->pkt.tcp_flags, 0x12);  // SYN,ACK
}

TEST(NetlinkDecode, UdpAndNonFirstFragment)
{
    std::vector<uint8_t> udp = {0x45, 0, 0, 32, 0, 0, 0, 0, 64, IPPROTO_UDP, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                0x13, 0x88, 0x00, 0x35, 0, 12, 0, 0};
    Packet pkt;
    decode_l3(udp.data(), udp.size(), NFPROTO_IPV4, pkt);
    EXPECT_EQ(pkt.sport, 5000);
    EXPECT_EQ(pkt.dport, 53);

    udp[6] = 0x00;
    udp[7] = 0x10;  // fragment offset 16 * 8: no transport header here
    Packet frag;
    decode_l3(udp.data(), udp.size(), NFPROTO_IPV4, frag);
    EXPECT_EQ(frag.l4proto, IPPROTO_UDP);
    EXPECT_FALSE(frag.sport);
}

TEST(NetlinkDecode, TruncatedPayloadIsSafe)
{
    auto p = ipv4_icmp_echo();
    for (size_t n = 0; n < p.size(); ++n) {
        Packet pkt;
        decode_l3(p.data(), n, NFPROTO_IPV4, pkt);
        if (n < 20) {
            EXPECT_EQ(pkt.ip_version, 0);
        }
    }
}

TEST(NetlinkDecode, NonTracePrefixGivesNoEvent)
{
    MsgBuilder m(NFPROTO_IPV4);
    m.hdr(0x0800, NF_INET_LOCAL_IN);
    m.str(NFULA_PREFIX, "admin-log: ");
    m.bytes(NFULA_PAYLOAD, ipv4_icmp_echo());
    auto rec = parse_nflog_message(m.nlh);
    ASSERT_TRUE(rec);
    EXPECT_FALSE(record_to_event(*rec, ctx()));
}

TEST(NetlinkDecode, NotAPacketMessage)
{
    MsgBuilder m(NFPROTO_IPV4);
    m.nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    EXPECT_FALSE(parse_nflog_message(m.nlh));
}

TEST(NetlinkSeq, CountsGapsAndWraps)
{
    SeqTracker t(0);
    EXPECT_EQ(t.observe(0), 0u);
    EXPECT_EQ(t.observe(1), 0u);
    EXPECT_EQ(t.observe(5), 3u);
    EXPECT_EQ(t.lost(), 3u);

    SeqTracker first_missing(0);
    EXPECT_EQ(first_missing.observe(10), 10u);

    SeqTracker w;
    EXPECT_EQ(w.observe(0xfffffffeu), 0u);
    EXPECT_EQ(w.observe(0xffffffffu), 0u);
    EXPECT_EQ(w.observe(1), 1u);  // 0 missing across the wrap
    EXPECT_EQ(w.lost(), 1u);
}

namespace {

IpAddr v4(const char* s)
{
    IpAddr a;
    a.version = 4;
    inet_pton(AF_INET, s, a.bytes.data());
    return a;
}

IpAddr v6(const char* s)
{
    IpAddr a;
    a.version = 6;
    inet_pton(AF_INET6, s, a.bytes.data());
    return a;
}

std::vector<std::string> texts(const Options& o)
{
    auto r = build_trace_rules(o);
    EXPECT_TRUE(r) << (r ? "" : r.error().what);
    std::vector<std::string> out;
    if (r)
        for (const auto& x : *r)
            out.push_back(x.text());
    return out;
}

}  // namespace

TEST(NetlinkFilter, NoFilterMarksEverything)
{
    Options o;
    EXPECT_TRUE(filter_is_empty(o));
    EXPECT_EQ(texts(o), std::vector<std::string>{"meta nftrace set 1"});
}

TEST(NetlinkFilter, AddressIsSourceOrDestination)
{
    Options o;
    o.addr = v4("10.0.0.1");
    EXPECT_EQ(texts(o), (std::vector<std::string>{
                            "meta nfproto ipv4 ip saddr 10.0.0.1 meta nftrace set 1",
                            "meta nfproto ipv4 ip daddr 10.0.0.1 meta nftrace set 1"}));
    auto r = build_trace_rules(o);
    const auto& m = (*r)[0].matches[1];
    EXPECT_EQ(m.base, static_cast<uint32_t>(NFT_PAYLOAD_NETWORK_HEADER));
    EXPECT_EQ(m.offset, 12u);
    EXPECT_EQ(m.len, 4u);
    EXPECT_EQ(m.value, (std::vector<uint8_t>{10, 0, 0, 1}));
}

TEST(NetlinkFilter, Ipv6AddressAndPort)
{
    Options o;
    o.addr = v6("fd00::1");
    o.port = 443;
    const auto t = texts(o);
    ASSERT_EQ(t.size(), 8u);  // {saddr,daddr} x {tcp,udp} x {sport,dport}
    EXPECT_EQ(t[0], "meta nfproto ipv6 ip6 saddr fd00::1 meta l4proto tcp th sport 443 meta nftrace set 1");
    EXPECT_EQ(t[7], "meta nfproto ipv6 ip6 daddr fd00::1 meta l4proto udp th dport 443 meta nftrace set 1");
    auto r = build_trace_rules(o);
    const auto& port = (*r)[0].matches.back();
    EXPECT_EQ(port.base, static_cast<uint32_t>(NFT_PAYLOAD_TRANSPORT_HEADER));
    EXPECT_EQ(port.value, (std::vector<uint8_t>{0x01, 0xbb}));
    EXPECT_EQ((*r)[0].matches[1].offset, 8u);
    EXPECT_EQ((*r)[0].matches[1].len, 16u);
}

TEST(NetlinkFilter, ProtoOnly)
{
    Options o;
    o.proto = Proto::Udp;
    EXPECT_EQ(texts(o), std::vector<std::string>{"meta l4proto udp meta nftrace set 1"});
    o.proto = Proto::Icmp;
    EXPECT_EQ(texts(o), (std::vector<std::string>{"meta l4proto icmp meta nftrace set 1",
                                                  "meta l4proto ipv6-icmp meta nftrace set 1"}));
    o.addr = v6("fd00::2");
    EXPECT_EQ(texts(o).size(), 2u);
    EXPECT_NE(texts(o)[0].find("ipv6-icmp"), std::string::npos);
}

TEST(NetlinkFilter, IcmpIdMatchesEchoOnly)
{
    Options o;
    o.proto = Proto::Icmp;
    o.addr = v4("10.0.0.1");
    o.icmp_id = 0x1234;
    auto r = build_trace_rules(o);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 2u);
    const auto& ms = (*r)[0].matches;
    ASSERT_EQ(ms.size(), 5u);  // nfproto, saddr, l4proto, echo type, id
    EXPECT_EQ(ms[3].mask, std::vector<uint8_t>{0xf7});
    EXPECT_EQ(ms[3].value, std::vector<uint8_t>{0x00});
    EXPECT_EQ(ms[4].offset, 4u);
    EXPECT_EQ(ms[4].value, (std::vector<uint8_t>{0x12, 0x34}));

    Options six;
    six.proto = Proto::Icmp6;
    six.icmp_id = 1;
    auto r6 = build_trace_rules(six);
    ASSERT_TRUE(r6);
    ASSERT_EQ(r6->size(), 1u);
    EXPECT_EQ((*r6)[0].matches[1].mask, std::vector<uint8_t>{0xfe});
    EXPECT_EQ((*r6)[0].matches[1].value, std::vector<uint8_t>{0x80});
}

TEST(NetlinkFilter, RefusesWhatItCannotHonour)
{
    Options mixed;
    mixed.addr = v4("10.0.0.1");
    mixed.proto = Proto::Icmp6;
    EXPECT_FALSE(build_trace_rules(mixed));

    Options port_icmp;
    port_icmp.proto = Proto::Icmp;
    port_icmp.port = 80;
    EXPECT_FALSE(build_trace_rules(port_icmp));

    Options id_tcp;
    id_tcp.proto = Proto::Tcp;
    id_tcp.icmp_id = 1;
    EXPECT_FALSE(build_trace_rules(id_tcp));

    Options both;
    both.port = 80;
    both.icmp_id = 1;
    EXPECT_FALSE(build_trace_rules(both));
}

// Recovery deletes an unowned `inet iptables_trace` table only when its
// comment is exactly what we write and names a dead process: anyone with
// CAP_NET_ADMIN in a netns can make a table of that name.
TEST(OwnerComment, OnlyOurExactFormIsOurs) {
    using itr::netlink::parse_owner_comment;
    using itr::netlink::format_owner_comment;
    auto o = parse_owner_comment(format_owner_comment({4242, 987654}));
    ASSERT_TRUE(o);
    EXPECT_EQ(o->pid, 4242);
    EXPECT_EQ(o->start_time, 987654u);
    auto z = parse_owner_comment("iptables-trace pid=17 start=0");
    ASSERT_TRUE(z) << "a start time that could not be read is written as 0";
    EXPECT_EQ(z->pid, 17);
    for (const char* foreign : {"", "iptables-trace", "iptables-trace pid=", "iptables-trace pid=0 start=1",
                                "iptables-trace pid=12", "iptables-trace pid=12 start=", "iptables-trace pid=12 start=5 x",
                                "iptables-trace pid=-3 start=5", "iptables-trace pid=012 start=5",
                                "iptables-trace pid=4194305 start=5", "iptables-trace pid=12 start=99999999999999999999999",
                                "my firewall", " iptables-trace pid=12 start=5", "iptables-trace  pid=12 start=5"})
        EXPECT_FALSE(parse_owner_comment(foreign)) << "'" << foreign << "'";
}

// Before 6.0 the marking chain leaves OUTPUT packets without a socket alone
// (the flow dissector's WARN_ON_ONCE(!net) when nf_tables hashes them).
TEST(KernelAtLeast, DebianReleases)
{
    using itr::netlink::kernel_at_least;
    EXPECT_FALSE(kernel_at_least("5.10.0-46-amd64", 6, 0));
    EXPECT_FALSE(kernel_at_least("5.19.17", 6, 0));
    EXPECT_TRUE(kernel_at_least("6.0.0", 6, 0));
    EXPECT_TRUE(kernel_at_least("6.1.0-57-amd64", 6, 0));
    EXPECT_TRUE(kernel_at_least("6.12.117+deb12-amd64", 6, 0));
    EXPECT_TRUE(kernel_at_least("10.0", 6, 0));
    EXPECT_FALSE(kernel_at_least("", 6, 0));
    EXPECT_FALSE(kernel_at_least("6", 6, 0));
    EXPECT_FALSE(kernel_at_least("x.1", 6, 0));
    EXPECT_FALSE(kernel_at_least("6.x", 6, 0));
}
