#include <gtest/gtest.h>

#include "iptables_trace/format.hpp"

using namespace itr;

namespace {

Packet v4(uint8_t proto, std::array<uint8_t, 4> s, std::array<uint8_t, 4> d) {
    Packet p;
    p.ip_version = 4;
    p.l4proto = proto;
    std::copy(s.begin(), s.end(), p.saddr.begin());
    std::copy(d.begin(), d.end(), p.daddr.begin());
    return p;
}

Packet v6(uint8_t proto, uint8_t s_last, uint8_t d_last) {
    Packet p;
    p.ip_version = 6;
    p.l4proto = proto;
    p.saddr[0] = p.daddr[0] = 0xfd;
    p.saddr[15] = s_last;
    p.daddr[15] = d_last;
    return p;
}

}  // namespace

TEST(PktInfo, TcpFlags) {
    Packet p = v4(6, {192, 168, 1, 138}, {192, 168, 1, 12});
    p.sport = 22;
    p.dport = 53030;
    p.tcp_flags = 0x18;
    EXPECT_EQ(pkt_info(p), "T_ACK,PSH:192.168.1.138:22->192.168.1.12:53030");
    p.tcp_flags = 0x02;
    EXPECT_EQ(pkt_info(p), "T_SYN:192.168.1.138:22->192.168.1.12:53030");
    p.tcp_flags = 0x12;
    EXPECT_EQ(pkt_info(p), "T_SYN,ACK:192.168.1.138:22->192.168.1.12:53030");
    p.tcp_flags = 0x08;
    EXPECT_EQ(pkt_info(p), "T_PSH:192.168.1.138:22->192.168.1.12:53030");
    p.tcp_flags = 0;
    EXPECT_EQ(pkt_info(p), "T_NONE:192.168.1.138:22->192.168.1.12:53030");
}

TEST(PktInfo, TcpWithoutHeader) {
    Packet p = v4(6, {10, 0, 0, 1}, {10, 0, 0, 2});
    EXPECT_EQ(pkt_info(p), "T:10.0.0.1->10.0.0.2");
}

TEST(PktInfo, Udp) {
    Packet p = v4(17, {10, 0, 0, 1}, {8, 8, 8, 8});
    p.sport = 40000;
    p.dport = 53;
    EXPECT_EQ(pkt_info(p), "U:10.0.0.1:40000->8.8.8.8:53");
    p.sport.reset();
    p.dport.reset();
    EXPECT_EQ(pkt_info(p), "U:10.0.0.1->8.8.8.8");
}

TEST(PktInfo, Icmp) {
    Packet p = v4(1, {10, 0, 0, 1}, {10, 0, 0, 2});
    p.has_icmp = true;
    p.icmp_type = 8;
    EXPECT_EQ(pkt_info(p), "I_request:10.0.0.1->10.0.0.2");
    p.icmp_type = 0;
    EXPECT_EQ(pkt_info(p), "I_reply:10.0.0.1->10.0.0.2");
    p.icmp_type = 3;
    EXPECT_EQ(pkt_info(p), "I:10.0.0.1->10.0.0.2");
    p.has_icmp = false;
    p.icmp_type = 0;
    EXPECT_EQ(pkt_info(p), "I:10.0.0.1->10.0.0.2");
}

TEST(PktInfo, Icmp6) {
    Packet p = v6(58, 1, 2);
    p.has_icmp = true;
    p.icmp_type = 128;
    EXPECT_EQ(pkt_info(p), "I_request:fd00::1->fd00::2");
    p.icmp_type = 129;
    EXPECT_EQ(pkt_info(p), "I_reply:fd00::1->fd00::2");
    p.icmp_type = 135;  // neighbour solicitation
    EXPECT_EQ(pkt_info(p), "I:fd00::1->fd00::2");
    p.icmp_type = 8;  // the IPv4 echo number means nothing in ICMPv6
    EXPECT_EQ(pkt_info(p), "I:fd00::1->fd00::2");
}

TEST(PktInfo, Ipv6PortsInBrackets) {
    Packet p = v6(6, 1, 0x80);
    p.sport = 80;
    p.dport = 51000;
    p.tcp_flags = 0x10;
    EXPECT_EQ(pkt_info(p), "T_ACK:[fd00::1]:80->[fd00::80]:51000");
    p.l4proto = 17;
    EXPECT_EQ(pkt_info(p), "U:[fd00::1]:80->[fd00::80]:51000");
}

TEST(PktInfo, Ipv6Compression) {
    Packet p;
    p.ip_version = 6;
    p.l4proto = 17;
    p.saddr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};
    p.daddr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    EXPECT_EQ(pkt_info(p), "U:2001:db8::1:0:0:1->::ffff:10.0.0.1");
}

TEST(PktInfo, OtherProtocols) {
    Packet p = v4(47, {10, 0, 0, 1}, {10, 0, 0, 2});
    EXPECT_EQ(pkt_info(p), "P_47:10.0.0.1->10.0.0.2");
    p.l4proto = 132;
    p.sport = 3868;
    p.dport = 3868;
    EXPECT_EQ(pkt_info(p), "P_132:10.0.0.1:3868->10.0.0.2:3868");
    Packet q = v6(136, 1, 2);
    q.sport = 5;
    q.dport = 6;
    EXPECT_EQ(pkt_info(q), "P_136:[fd00::1]:5->[fd00::2]:6");
}

TEST(PktInfo, NoL3) {
    Packet p;
    EXPECT_EQ(pkt_info(p), "?");
    p.l4proto = 6;
    p.sport = 1;
    EXPECT_EQ(pkt_info(p), "?");
}

TEST(Format, Sanitized) {
    std::string s;
    append_sanitized(s, "eth0");
    EXPECT_EQ(s, "eth0");
    s.clear();
    append_sanitized(s, std::string_view("a b\n\x01\\\xff\xc3\xa9", 9));
    EXPECT_EQ(s, "a\\x20b\\x0a\\x01\\x5c\\xff\xc3\xa9");
}

TEST(Format, Utf8SequenceLength) {
    EXPECT_EQ(utf8_sequence_length("a"), 1u);
    EXPECT_EQ(utf8_sequence_length("\xc2\xb5"), 2u);
    EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac"), 3u);
    EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80"), 4u);
    EXPECT_EQ(utf8_sequence_length("\xc0\x80"), 0u);      // overlong
    EXPECT_EQ(utf8_sequence_length("\xed\xa0\x80"), 0u);  // surrogate
    EXPECT_EQ(utf8_sequence_length("\xf4\x90\x80\x80"), 0u);  // > U+10FFFF
    EXPECT_EQ(utf8_sequence_length("\xe2\x82"), 0u);      // truncated
    EXPECT_EQ(utf8_sequence_length("\x80"), 0u);
    EXPECT_EQ(utf8_sequence_length(""), 0u);
}
