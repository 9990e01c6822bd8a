#include <gtest/gtest.h>

#include "iptables_trace/event.h"
#include "iptables_trace/names.hpp"

using namespace itr;

TEST(Names, Verdicts) {
    EXPECT_EQ(verdict_name(0), "DROP");
    EXPECT_EQ(verdict_name(1), "ACCEPT");
    EXPECT_EQ(verdict_name(2), "STOLEN");
    EXPECT_EQ(verdict_name(3), "QUEUE");
    EXPECT_EQ(verdict_name(4), "REPEAT");
    EXPECT_EQ(verdict_name(5), "STOP");
    EXPECT_EQ(verdict_name(7), "UNKNOWN(7)");
    // Queue number in the upper 16 bits is masked away.
    EXPECT_EQ(verdict_name((5u << 16) | 3u), "QUEUE");
    EXPECT_EQ(verdict_name(0x10001u), "ACCEPT");
    EXPECT_EQ(verdict_name(0xffffffffu), "UNKNOWN(255)");
    EXPECT_FALSE(known_verdict_name(6));
}

TEST(Names, InetHooks) {
    EXPECT_EQ(hook_name(0, ITR_NFPROTO_IPV4), "PREROUTING");
    EXPECT_EQ(hook_name(1, ITR_NFPROTO_IPV4), "INPUT");
    EXPECT_EQ(hook_name(2, ITR_NFPROTO_IPV6), "FORWARD");
    EXPECT_EQ(hook_name(3, ITR_NFPROTO_IPV4), "OUTPUT");
    EXPECT_EQ(hook_name(4, ITR_NFPROTO_INET), "POSTROUTING");
    EXPECT_EQ(hook_name(5, ITR_NFPROTO_INET), "INGRESS");
    EXPECT_EQ(hook_name(9, ITR_NFPROTO_IPV4), "UNKNOWN(9)");
}

TEST(Names, OtherFamilyHooks) {
    EXPECT_EQ(hook_name(0, ITR_NFPROTO_NETDEV), "INGRESS");
    EXPECT_EQ(hook_name(1, ITR_NFPROTO_NETDEV), "EGRESS");
    EXPECT_EQ(hook_name(2, ITR_NFPROTO_NETDEV), "UNKNOWN(2)");
    EXPECT_EQ(hook_name(0, ITR_NFPROTO_ARP), "IN");
    EXPECT_EQ(hook_name(1, ITR_NFPROTO_ARP), "OUT");
    EXPECT_EQ(hook_name(2, ITR_NFPROTO_ARP), "FORWARD");
    EXPECT_EQ(hook_name(5, ITR_NFPROTO_BRIDGE), "BROUTING");
    EXPECT_EQ(hook_name(1, ITR_NFPROTO_BRIDGE), "INPUT");
}

TEST(Names, Families) {
    EXPECT_EQ(pf_name(2), "PF_INET");
    EXPECT_EQ(pf_name(10), "PF_INET6");
    EXPECT_EQ(pf_name(7), "UNKNOWN(7)");
    EXPECT_EQ(nft_family_name(ITR_NFPROTO_INET), "inet");
    EXPECT_EQ(nft_family_name(ITR_NFPROTO_IPV4), "ip");
    EXPECT_EQ(nft_family_name(ITR_NFPROTO_IPV6), "ip6");
    EXPECT_EQ(nft_family_name(ITR_NFPROTO_ARP), "arp");
    EXPECT_EQ(nft_family_name(ITR_NFPROTO_BRIDGE), "bridge");
    EXPECT_EQ(nft_family_name(ITR_NFPROTO_NETDEV), "netdev");
    EXPECT_EQ(nft_family_name(4), "UNKNOWN(4)");
}

TEST(Names, TcpFlagsFixedOrder) {
    auto join = [](uint8_t f) {
        std::string s;
        append_tcp_flags(s, f);
        return s;
    };
    EXPECT_EQ(join(0x18), "ACK,PSH");
    EXPECT_EQ(join(0x02), "SYN");
    EXPECT_EQ(join(0x12), "SYN,ACK");
    EXPECT_EQ(join(0x11), "FIN,ACK");
    EXPECT_EQ(join(0x14), "RST,ACK");
    EXPECT_EQ(join(0x19), "FIN,ACK,PSH");
    EXPECT_EQ(join(0x08), "PSH");
    EXPECT_EQ(join(0xc2), "SYN,ECE,CWR");
    EXPECT_EQ(join(0xff), "SYN,FIN,RST,ACK,PSH,URG,ECE,CWR");
    EXPECT_EQ(join(0), "");
    auto v = tcp_flag_names(0x18);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], "ACK");
    EXPECT_EQ(v[1], "PSH");
}

TEST(Names, L4Proto) {
    EXPECT_EQ(l4proto_name(6), "tcp");
    EXPECT_EQ(l4proto_name(17), "udp");
    EXPECT_EQ(l4proto_name(1), "icmp");
    EXPECT_EQ(l4proto_name(58), "icmp6");
    EXPECT_EQ(l4proto_name(132), "sctp");
    EXPECT_FALSE(l4proto_name(253));
}
