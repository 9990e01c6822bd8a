#include <gtest/gtest.h>
#include <arpa/inet.h>

#include <string>
#include <vector>

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

// The hand-written address formatter must print what inet_ntop prints, for
// every shape of zero runs and the IPv4-embedded forms.
TEST(IpText, MatchesInetNtop) {
    std::vector<std::array<uint8_t, 16>> cases;
    auto v6 = [](std::initializer_list<uint16_t> w) {
        std::array<uint8_t, 16> a{};
        int i = 0;
        for (uint16_t x : w) {
            a[2 * i] = static_cast<uint8_t>(x >> 8);
            a[2 * i + 1] = static_cast<uint8_t>(x);
            ++i;
        }
        return a;
    };
    cases.push_back(v6({0, 0, 0, 0, 0, 0, 0, 0}));
    cases.push_back(v6({0, 0, 0, 0, 0, 0, 0, 1}));
    cases.push_back(v6({0, 0, 0, 0, 0, 0, 0x0a00, 0x0001}));      // ::10.0.0.1
    cases.push_back(v6({0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001}));  // ::ffff:10.0.0.1
    cases.push_back(v6({0, 0, 0, 0, 0, 0xfffe, 0x0a00, 0x0001}));
    cases.push_back(v6({0xfd00, 0x99, 0, 0, 0, 0, 0, 2}));
    cases.push_back(v6({0x2001, 0xdb8, 0, 0, 1, 0, 0, 1}));        // tie: first run
    cases.push_back(v6({0x2001, 0xdb8, 0, 1, 0, 0, 0, 1}));        // longer second run
    cases.push_back(v6({0x2001, 0xdb8, 0, 1, 2, 3, 4, 5}));        // single zero: no ::
    cases.push_back(v6({0xfe80, 0, 0, 0, 0xabcd, 0xef01, 0x2345, 0}));
    cases.push_back(v6({1, 0, 0, 0, 0, 0, 0, 0}));
    cases.push_back(v6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff}));
    uint32_t x = 12345;
    for (int n = 0; n < 20000; ++n) {  // random words, biased towards zeros
        std::array<uint8_t, 16> a{};
        for (int i = 0; i < 8; ++i) {
            x = x * 1103515245u + 12345u;
            const uint16_t w = (x >> 16) % 3 == 0 ? 0 : static_cast<uint16_t>(x >> 8);
            a[2 * i] = static_cast<uint8_t>(w >> 8);
            a[2 * i + 1] = static_cast<uint8_t>(w);
        }
        cases.push_back(a);
    }
    for (const auto& a : cases) {
        char want[INET6_ADDRSTRLEN];
        ASSERT_TRUE(inet_ntop(AF_INET6, a.data(), want, sizeof want));
        EXPECT_EQ(ip_text(6, a), want);
    }
    for (uint32_t v : {0u, 0x0a000001u, 0xffffffffu, 0x7f000001u, 0xc0a8010cu}) {
        std::array<uint8_t, 16> a{};
        a[0] = v >> 24, a[1] = v >> 16, a[2] = v >> 8, a[3] = v;
        char want[INET_ADDRSTRLEN];
        ASSERT_TRUE(inet_ntop(AF_INET, a.data(), want, sizeof want));
        EXPECT_EQ(ip_text(4, a), want);
    }
}

TEST(Numbers, AppendUintEdges) {
    for (uint64_t v : {0ull, 9ull, 10ull, 99ull, 100ull, 101ull, 4026531840ull, 18446744073709551615ull}) {
        std::string s;
        append_uint(s, v);
        EXPECT_EQ(s, std::to_string(v));
    }
}
