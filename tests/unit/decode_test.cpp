#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include "iptables_trace/decode.hpp"
#include "iptables_trace/event.h"

using namespace itr;

namespace {

itr_event tcp_rule_event() {
    itr_event e;
    std::memset(&e, 0, sizeof e);
    e.ts_ns = 123456789;
    e.kind = ITR_EV_RULE;
    e.flags = ITR_F_HAS_MAC | ITR_F_HAS_PORTS;
    e.cpu = 3;
    e.pid = 6888;
    e.hook = 1;
    e.pf = ITR_NFPROTO_IPV4;
    e.rulenum = 4;
    e.rule_kind = ITR_RULE_RULE;
    e.depth = 1;
    std::strcpy(e.table, "filter");
    std::strcpy(e.chain, "INPUT");
    std::strcpy(e.in_dev, "enp0s8");
    e.pkt.skb = 0xffff8df50291d200ull;
    e.pkt.netns = 4026531840u;
    e.pkt.ifindex = 2;
    std::strcpy(e.pkt.ifname, "enp0s8");
    const uint8_t mac[6] = {0x08, 0x00, 0x27, 0x39, 0xde, 0x94};
    std::memcpy(e.pkt.dst_mac, mac, 6);
    e.pkt.ip_version = 4;
    e.pkt.l4proto = 6;
    e.pkt.ip_len = 52;
    e.pkt.sport_be = htons(53030);
    e.pkt.dport_be = htons(22);
    e.pkt.tcp_flags = 0x18;
    const uint8_t s[4] = {192, 168, 1, 12}, d[4] = {192, 168, 1, 138};
    std::memcpy(e.pkt.saddr, s, 4);
    std::memcpy(e.pkt.daddr, d, 4);
    return e;
}

// Decodes from a deliberately misaligned copy, with perf's padding after.
Result<TraceEvent> decode_unaligned(const itr_event& e, std::size_t size = sizeof(itr_event)) {
    std::vector<unsigned char> buf(size + 9, 0xee);
    std::memcpy(buf.data() + 1, &e, std::min(size, sizeof e));
    return decode_event(buf.data() + 1, size);
}

}  // namespace

TEST(Decode, RuleEvent) {
    auto r = decode_unaligned(tcp_rule_event());
    ASSERT_TRUE(r.ok()) << r.error().what;
    const TraceEvent& ev = r.value();
    EXPECT_EQ(ev.kind, EventKind::Rule);
    EXPECT_EQ(ev.mono_ns, 123456789u);
    EXPECT_EQ(ev.pf, 2u);
    EXPECT_EQ(ev.hook, 1u);
    EXPECT_EQ(ev.table, "filter");
    EXPECT_EQ(ev.chain, "INPUT");
    EXPECT_EQ(ev.in_dev, "enp0s8");
    EXPECT_EQ(ev.out_dev, "");
    EXPECT_EQ(ev.rulenum, 4u);
    EXPECT_EQ(ev.rule_kind, RuleKind::Rule);
    EXPECT_EQ(ev.depth, 1u);
    EXPECT_FALSE(ev.verdict);
    EXPECT_FALSE(ev.cost_ns);
    EXPECT_FALSE(ev.truncated);
    EXPECT_FALSE(ev.admin_trace);
    EXPECT_FALSE(ev.rule_text);
    const Packet& p = ev.pkt;
    EXPECT_EQ(p.skb, 0xffff8df50291d200ull);
    EXPECT_EQ(p.netns, 4026531840u);
    EXPECT_EQ(p.pid, 6888u);
    EXPECT_EQ(p.cpu, 3u);
    EXPECT_EQ(p.ifname, "enp0s8");
    ASSERT_TRUE(p.dst_mac);
    EXPECT_EQ((*p.dst_mac)[0], 0x08);
    EXPECT_EQ((*p.dst_mac)[5], 0x94);
    EXPECT_EQ(p.ip_version, 4);
    EXPECT_EQ(p.l4proto, 6);
    EXPECT_EQ(p.ip_len, 52);
    EXPECT_EQ(p.sport, 53030);
    EXPECT_EQ(p.dport, 22);
    EXPECT_EQ(p.tcp_flags, 0x18);
    EXPECT_EQ(p.saddr[0], 192);
    EXPECT_EQ(p.saddr[3], 12);
    EXPECT_EQ(p.saddr[4], 0);
    EXPECT_EQ(p.daddr[3], 138);
    EXPECT_FALSE(p.has_icmp);
}

TEST(Decode, RejectsShortAndNull) {
    itr_event e = tcp_rule_event();
    auto r = decode_unaligned(e, sizeof(itr_event) - 1);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("short event"), std::string::npos);
    EXPECT_FALSE(decode_event(&e, 0).ok());
    EXPECT_FALSE(decode_event(nullptr, sizeof e).ok());
}

TEST(Decode, AcceptsPaddedSamples) {
    EXPECT_TRUE(decode_unaligned(tcp_rule_event(), sizeof(itr_event) + 4).ok());
}

TEST(Decode, RejectsUnknownKind) {
    itr_event e = tcp_rule_event();
    e.kind = 9;
    auto r = decode_unaligned(e);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("kind 9"), std::string::npos);
    e.kind = 0;
    EXPECT_FALSE(decode_unaligned(e).ok());
}

TEST(Decode, UnterminatedStringsAreBounded) {
    itr_event e = tcp_rule_event();
    std::memset(e.pkt.ifname, 'a', sizeof e.pkt.ifname);
    std::memset(e.table, 't', sizeof e.table);
    std::memset(e.chain, 'c', sizeof e.chain);
    std::memset(e.in_dev, 'i', sizeof e.in_dev);
    std::memset(e.out_dev, 'o', sizeof e.out_dev);
    auto r = decode_unaligned(e);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->pkt.ifname, std::string(16, 'a'));
    EXPECT_EQ(r->table, std::string(32, 't'));
    EXPECT_EQ(r->chain, std::string(64, 'c'));
    EXPECT_EQ(r->in_dev, std::string(16, 'i'));
    EXPECT_EQ(r->out_dev, std::string(16, 'o'));
}

TEST(Decode, RuleKinds) {
    itr_event e = tcp_rule_event();
    e.rule_kind = ITR_RULE_RETURN;
    EXPECT_EQ(decode_unaligned(e)->rule_kind, RuleKind::Return);
    e.rule_kind = ITR_RULE_POLICY;
    EXPECT_EQ(decode_unaligned(e)->rule_kind, RuleKind::Policy);
    e.rule_kind = ITR_RULE_UNKNOWN;
    EXPECT_EQ(decode_unaligned(e)->rule_kind, RuleKind::Unknown);
    e.rule_kind = 77;
    EXPECT_EQ(decode_unaligned(e)->rule_kind, RuleKind::Unknown);
}

TEST(Decode, TableEventVerdictAndCost) {
    itr_event e = tcp_rule_event();
    e.kind = ITR_EV_TABLE;
    e.verdict = (2u << 16) | 3u;
    e.cost_ns = 36942;
    e.flags |= ITR_F_HAS_COST;
    auto r = decode_unaligned(e);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->kind, EventKind::Table);
    EXPECT_EQ(r->verdict, (2u << 16) | 3u);
    EXPECT_EQ(r->cost_ns, 36942u);
    EXPECT_EQ(r->rule_kind, RuleKind::Unknown);

    e.flags &= ~ITR_F_HAS_COST;
    e.verdict = 0;  // NF_DROP: a zero verdict is still a verdict
    r = decode_unaligned(e);
    EXPECT_FALSE(r->cost_ns);
    EXPECT_EQ(r->verdict, 0u);

    e.kind = ITR_EV_NFT;
    EXPECT_EQ(decode_unaligned(e)->kind, EventKind::Nft);
}

TEST(Decode, FlagsBecomeOptionals) {
    itr_event e = tcp_rule_event();
    e.flags = ITR_F_TRUNCATED | ITR_F_ADMIN_TRACE;
    e.pkt.netns = 0;
    auto r = decode_unaligned(e);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->pkt.dst_mac);
    EXPECT_FALSE(r->pkt.sport);
    EXPECT_FALSE(r->pkt.dport);
    EXPECT_EQ(r->pkt.tcp_flags, 0);
    EXPECT_FALSE(r->pkt.netns);
    EXPECT_TRUE(r->truncated);
    EXPECT_TRUE(r->admin_trace);
    EXPECT_EQ(r->pkt.ip_version, 4);
}

TEST(Decode, NoL3) {
    itr_event e = tcp_rule_event();
    e.flags |= ITR_F_NO_L3;
    auto r = decode_unaligned(e);
    EXPECT_EQ(r->pkt.ip_version, 0);
    EXPECT_FALSE(r->pkt.sport);
    e = tcp_rule_event();
    e.pkt.ip_version = 5;  // garbage: not trusted
    EXPECT_EQ(decode_unaligned(e)->pkt.ip_version, 0);
}

TEST(Decode, Ipv6Icmp) {
    itr_event e = tcp_rule_event();
    e.flags = ITR_F_HAS_ICMP;
    e.pf = ITR_NFPROTO_IPV6;
    e.pkt.ip_version = 6;
    e.pkt.l4proto = 58;
    e.pkt.icmp_type = 128;
    e.pkt.icmp_code = 0;
    e.pkt.icmp_id_be = htons(0x1234);
    e.pkt.icmp_seq_be = htons(7);
    uint8_t a[16] = {0xfd, 0};
    a[15] = 1;
    std::memcpy(e.pkt.saddr, a, 16);
    a[15] = 2;
    std::memcpy(e.pkt.daddr, a, 16);
    auto r = decode_unaligned(e);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->pkt.has_icmp);
    EXPECT_EQ(r->pkt.icmp_type, 128);
    EXPECT_EQ(r->pkt.icmp_id, 0x1234);
    EXPECT_EQ(r->pkt.icmp_seq, 7);
    EXPECT_EQ(r->pkt.saddr[0], 0xfd);
    EXPECT_EQ(r->pkt.saddr[15], 1);
    EXPECT_EQ(r->pkt.daddr[15], 2);
    EXPECT_FALSE(r->pkt.sport);
}

// The reader decodes every sample into one reused event: nothing of the
// previous sample may survive into the next.
TEST(Decode, IntoAReusedEventLeavesNothingBehind) {
    itr_event table = tcp_rule_event();
    table.kind = ITR_EV_TABLE;
    table.verdict = 1;
    table.cost_ns = 5;
    table.flags |= ITR_F_HAS_COST | ITR_F_HAS_MAC | ITR_F_HAS_ICMP;
    std::strcpy(table.table, "a-rather-long-table-name-here");
    std::strcpy(table.pkt.ifname, "veth-long-name");

    itr_event rule = tcp_rule_event();
    rule.flags = ITR_F_NO_L3;
    rule.pkt.netns = 0;
    std::strcpy(rule.table, "raw");
    std::memset(rule.pkt.ifname, 0, sizeof rule.pkt.ifname);
    std::memset(rule.in_dev, 0, sizeof rule.in_dev);

    TraceEvent ev;
    ev.rule_text = "left over";
    ev.rule_text_stale = true;
    ASSERT_TRUE(decode_event_into(&table, sizeof table, ev).ok());
    EXPECT_EQ(ev.table, "a-rather-long-table-name-here");
    EXPECT_TRUE(ev.verdict);
    EXPECT_FALSE(ev.rule_text) << "enrichment of an earlier event must not survive";
    EXPECT_FALSE(ev.rule_text_stale);

    ASSERT_TRUE(decode_event_into(&rule, sizeof rule, ev).ok());
    auto fresh = decode_event(&rule, sizeof rule);
    ASSERT_TRUE(fresh.ok());
    EXPECT_EQ(ev.kind, EventKind::Rule);
    EXPECT_EQ(ev.table, "raw");
    EXPECT_EQ(ev.pkt.ifname, "");
    EXPECT_EQ(ev.in_dev, "");
    EXPECT_FALSE(ev.verdict);
    EXPECT_FALSE(ev.cost_ns);
    EXPECT_FALSE(ev.pkt.dst_mac);
    EXPECT_FALSE(ev.pkt.netns);
    EXPECT_FALSE(ev.pkt.has_icmp);
    EXPECT_EQ(ev.pkt.ip_version, 0);
    EXPECT_EQ(ev.pkt.saddr, fresh->pkt.saddr);
    EXPECT_EQ(ev.rulenum, fresh->rulenum);
    EXPECT_EQ(ev.rule_kind, fresh->rule_kind);

    ASSERT_FALSE(decode_event_into(&rule, 3, ev).ok());
}
