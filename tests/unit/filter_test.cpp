#include <gtest/gtest.h>

#include <cstring>

#include "iptables_trace/filter.hpp"

using namespace itr;

namespace {

itr_arg_layout layout(uint8_t skb, uint8_t state, uint8_t table, uint8_t valid) {
    itr_arg_layout l{};
    l.skb = skb;
    l.state = state;
    l.table = table;
    l.valid = valid;
    return l;
}

itr_config build(const Options& o, std::optional<uint32_t> ns = std::nullopt) {
    auto r = make_bpf_config(o, layout(1, 2, 0, 1), layout(0, 1, 2, 1), ns);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    return r.ok() ? r.value() : itr_config{};
}

NetnsSpec spec(const char* text) {
    auto r = parse_netns_spec(text);
    EXPECT_TRUE(r.ok()) << text;
    return r.ok() ? r.value() : NetnsSpec{};
}

const uint8_t* bytes(const void* p) { return static_cast<const uint8_t*>(p); }

}  // namespace

TEST(Filter, NoFiltersSetsNothing) {
    itr_config c = build(Options{});
    EXPECT_EQ(c.abi_version, static_cast<uint32_t>(ITR_ABI_VERSION));
    EXPECT_EQ(c.has_addr, 0);
    EXPECT_EQ(c.proto, ITR_PROTO_ANY);
    EXPECT_EQ(c.has_port, 0);
    EXPECT_EQ(c.has_icmp_id, 0);
    EXPECT_EQ(c.has_pid, 0);
    EXPECT_EQ(c.has_netns, 0);
    EXPECT_EQ(c.port_be, 0);
    for (uint8_t b : c.addr) EXPECT_EQ(b, 0);
}

TEST(Filter, ArgLayoutsCopied) {
    itr_config c = build(Options{});
    EXPECT_EQ(c.ipt.skb, 1);
    EXPECT_EQ(c.ipt.state, 2);
    EXPECT_EQ(c.ipt.table, 0);
    EXPECT_EQ(c.ipt.valid, 1);
    EXPECT_EQ(c.ip6t.skb, 0);
    EXPECT_EQ(c.ip6t.state, 1);
    EXPECT_EQ(c.ip6t.table, 2);
}

TEST(Filter, PortIsNetworkOrderInMemory) {
    Options o;
    o.port = 22;
    itr_config c = build(o);
    EXPECT_EQ(c.has_port, 1);
    EXPECT_EQ(bytes(&c.port_be)[0], 0x00);
    EXPECT_EQ(bytes(&c.port_be)[1], 0x16);
    // And where the BPF side reads it.
    EXPECT_EQ(bytes(&c)[offsetof(itr_config, port_be)], 0x00);
    EXPECT_EQ(bytes(&c)[offsetof(itr_config, port_be) + 1], 0x16);

    o.port = 0x1f90;  // 8080
    c = build(o);
    EXPECT_EQ(bytes(&c.port_be)[0], 0x1f);
    EXPECT_EQ(bytes(&c.port_be)[1], 0x90);
    EXPECT_NE(c.port_be, 0);  // the original's swap computed zero
}

TEST(Filter, IcmpIdIsNetworkOrderInMemory) {
    Options o;
    o.proto = Proto::Icmp;
    o.icmp_id = 0x1234;
    itr_config c = build(o);
    EXPECT_EQ(c.has_icmp_id, 1);
    EXPECT_EQ(c.proto, 1);
    EXPECT_EQ(bytes(&c.icmp_id_be)[0], 0x12);
    EXPECT_EQ(bytes(&c.icmp_id_be)[1], 0x34);

    o.icmp_id = 0;  // id 0 is a real filter value
    c = build(o);
    EXPECT_EQ(c.has_icmp_id, 1);
    EXPECT_EQ(c.icmp_id_be, 0);
}

TEST(Filter, ProtoNumbers) {
    EXPECT_EQ(proto_number(Proto::Tcp), 6);
    EXPECT_EQ(proto_number(Proto::Udp), 17);
    EXPECT_EQ(proto_number(Proto::Icmp), 1);
    EXPECT_EQ(proto_number(Proto::Icmp6), 58);
    EXPECT_EQ(proto_number(Proto::Any), 0);
    Options o;
    o.proto = Proto::Udp;
    EXPECT_EQ(build(o).proto, 17);
}

TEST(Filter, Ipv4AddressInFirstFourBytes) {
    Options o;
    IpAddr a;
    a.version = 4;
    a.bytes = {10, 0, 0, 2};
    o.addr = a;
    itr_config c = build(o);
    EXPECT_EQ(c.has_addr, 1);
    EXPECT_EQ(c.addr_version, 4);
    const uint8_t want[16] = {10, 0, 0, 2};
    EXPECT_EQ(std::memcmp(c.addr, want, 16), 0);
}

TEST(Filter, Ipv6AddressAllSixteen) {
    Options o;
    IpAddr a;
    a.version = 6;
    a.bytes = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0x01};
    o.addr = a;
    itr_config c = build(o);
    EXPECT_EQ(c.addr_version, 6);
    EXPECT_EQ(std::memcmp(c.addr, a.bytes.data(), 16), 0);
}

TEST(Filter, Pid) {
    Options o;
    o.pid = 4242;
    itr_config c = build(o);
    EXPECT_EQ(c.has_pid, 1);
    EXPECT_EQ(c.pid, 4242u);
}

TEST(Filter, NetnsLiteralInode) {
    Options o;
    o.netns = spec("4026531840");
    itr_config c = build(o);
    EXPECT_EQ(c.has_netns, 1);
    EXPECT_EQ(c.netns, 4026531840u);
}

TEST(Filter, NetnsNameNeedsResolvedInode) {
    Options o;
    o.netns = spec("blue");
    auto r = make_bpf_config(o, {}, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("blue"), std::string::npos);

    itr_config c = build(o, 4026532000u);
    EXPECT_EQ(c.has_netns, 1);
    EXPECT_EQ(c.netns, 4026532000u);

    o.netns = spec("pid:1");
    EXPECT_FALSE(make_bpf_config(o, {}, {}).ok());
    EXPECT_EQ(build(o, 7u).netns, 7u);
}

TEST(Filter, ResolvedInodeOverridesLiteral) {
    Options o;
    o.netns = spec("123");
    EXPECT_EQ(build(o, 456u).netns, 456u);
}

TEST(Filter, AllTogether) {
    Options o;
    IpAddr a;
    a.bytes = {192, 168, 1, 138};
    o.addr = a;
    o.proto = Proto::Tcp;
    o.port = 22;
    o.pid = 1;
    o.netns = spec("99");
    itr_config c = build(o);
    EXPECT_EQ(c.has_addr + c.has_port + c.has_pid + c.has_netns, 4);
    EXPECT_EQ(c.has_icmp_id, 0);
    EXPECT_EQ(c.proto, 6);
}

// The user-space filter nf_tables trace events pass through: an
// administrator's own nftrace marks must not show as ours.
namespace {
itr::Packet udp4(uint8_t s3, uint8_t d3, uint16_t sport, uint16_t dport)
{
    itr::Packet p;
    p.ip_version = 4;
    p.l4proto = 17;
    p.saddr = {127, 0, 0, s3};
    p.daddr = {127, 0, 0, d3};
    p.sport = sport;
    p.dport = dport;
    return p;
}
}  // namespace

TEST(PacketMatchesFilter, PortProtoAddrIcmpId)
{
    itr::Options o;
    o.port = 7777;
    o.proto = itr::Proto::Udp;
    EXPECT_TRUE(itr::packet_matches_filter(o, udp4(1, 1, 40052, 7777)));
    EXPECT_TRUE(itr::packet_matches_filter(o, udp4(1, 1, 7777, 40052)));
    EXPECT_FALSE(itr::packet_matches_filter(o, udp4(1, 1, 40051, 9999)));
    auto tcp = udp4(1, 1, 40052, 7777);
    tcp.l4proto = 6;
    EXPECT_FALSE(itr::packet_matches_filter(o, tcp));

    itr::Options a;
    a.addr = itr::IpAddr{4, {127, 0, 0, 2}};
    EXPECT_TRUE(itr::packet_matches_filter(a, udp4(2, 1, 1, 2)));
    EXPECT_TRUE(itr::packet_matches_filter(a, udp4(1, 2, 1, 2)));
    EXPECT_FALSE(itr::packet_matches_filter(a, udp4(1, 3, 1, 2)));
    auto v6 = udp4(2, 2, 1, 2);
    v6.ip_version = 6;
    EXPECT_FALSE(itr::packet_matches_filter(a, v6));

    itr::Options i;
    i.icmp_id = 4242;
    itr::Packet echo;
    echo.ip_version = 4;
    echo.l4proto = 1;
    echo.has_icmp = true;
    echo.icmp_type = 8;
    echo.icmp_id = 4242;
    EXPECT_TRUE(itr::packet_matches_filter(i, echo));
    echo.icmp_id = 4243;
    EXPECT_FALSE(itr::packet_matches_filter(i, echo));
    echo.icmp_id = 4242;
    echo.icmp_type = 3;  // an error, not an echo
    EXPECT_FALSE(itr::packet_matches_filter(i, echo));
}

TEST(PacketMatchesFilter, UnknownHeadersPassAndNoFilterPassesAll)
{
    itr::Options o;
    o.port = 7777;
    EXPECT_TRUE(itr::packet_matches_filter(o, itr::Packet{}));
    EXPECT_TRUE(itr::packet_matches_filter(itr::Options{}, udp4(1, 1, 1, 1)));
}
