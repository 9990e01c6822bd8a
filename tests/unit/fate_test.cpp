// The fate tracker: grouping Rule events into table calls, nesting, policy.
#include <gtest/gtest.h>

#include "iptables_trace/fate.hpp"

using namespace itr;

namespace {

TraceEvent rule(uint64_t skb, uint32_t cpu, std::string table, uint32_t hook, std::string chain, uint32_t num,
                RuleKind kind, std::optional<std::string> text = std::nullopt, uint32_t pf = 2) {
    TraceEvent ev;
    ev.kind = EventKind::Rule;
    ev.pkt.skb = skb;
    ev.pkt.cpu = cpu;
    ev.pf = pf;
    ev.table = std::move(table);
    ev.hook = hook;
    ev.chain = std::move(chain);
    ev.rulenum = num;
    ev.rule_kind = kind;
    ev.rule_text = std::move(text);
    return ev;
}

TraceEvent table(uint64_t skb, uint32_t cpu, std::string name, uint32_t hook, uint32_t verdict, uint32_t pf = 2) {
    TraceEvent ev;
    ev.kind = EventKind::Table;
    ev.pkt.skb = skb;
    ev.pkt.cpu = cpu;
    ev.pf = pf;
    ev.table = std::move(name);
    ev.hook = hook;
    ev.verdict = verdict;
    ev.cost_ns = 1234;
    return ev;
}

constexpr uint32_t INPUT = 1, OUTPUT = 3;

}  // namespace

TEST(Fate, DropByRuleInUserChain) {
    FateTracker ft;
    EXPECT_FALSE(ft.consume(rule(0xa, 0, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -s 10.0.0.0/8 -j USR")));
    EXPECT_FALSE(ft.consume(rule(0xa, 0, "filter", INPUT, "USR", 2, RuleKind::Rule, "-A USR -p tcp -j DROP")));
    EXPECT_EQ(ft.in_flight(), 1u);
    auto f = ft.consume(table(0xa, 0, "filter", INPUT, 0));
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->decided);
    EXPECT_TRUE(f->dropped());
    EXPECT_EQ(f->chain, "USR");
    EXPECT_EQ(f->rulenum, 2u);
    EXPECT_EQ(f->rules_seen, 2u);
    EXPECT_EQ(*f->cost_ns, 1234u);
    EXPECT_EQ(format_fate(*f), "DROP by filter/USR rule 2: -A USR -p tcp -j DROP");
    EXPECT_EQ(ft.in_flight(), 0u);
}

TEST(Fate, PolicyAfterReturn) {
    FateTracker ft;
    ft.consume(rule(0xb, 1, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j USR"));
    ft.consume(rule(0xb, 1, "filter", INPUT, "USR", 3, RuleKind::Return, "return"));
    ft.consume(rule(0xb, 1, "filter", INPUT, "INPUT", 4, RuleKind::Policy, "policy DROP"));
    auto f = ft.consume(table(0xb, 1, "filter", INPUT, 0));
    ASSERT_TRUE(f);
    EXPECT_EQ(f->rule_kind, RuleKind::Policy);
    EXPECT_EQ(format_fate(*f), "DROP by filter/INPUT policy DROP");
    // Not enriched: the kind and the verdict still say it.
    ft.consume(rule(0xc, 1, "filter", INPUT, "INPUT", 4, RuleKind::Policy));
    f = ft.consume(table(0xc, 1, "filter", INPUT, 0));
    EXPECT_EQ(format_fate(*f), "DROP by filter/INPUT policy DROP");
}

TEST(Fate, NestedRejectOnTheSameCpu) {
    // INPUT call for skb A; its REJECT rule sends a reset (skb B) through
    // OUTPUT (raw, then filter) before the INPUT call returns.
    FateTracker ft;
    ft.consume(rule(0xa, 2, "filter", INPUT, "INPUT", 3, RuleKind::Rule,
                    "-A INPUT -p tcp -j REJECT --reject-with tcp-reset"));
    ft.consume(rule(0xb, 2, "raw", OUTPUT, "OUTPUT", 1, RuleKind::Policy, "policy ACCEPT"));
    auto inner_raw = ft.consume(table(0xb, 2, "raw", OUTPUT, 1));
    ft.consume(rule(0xb, 2, "filter", OUTPUT, "OUTPUT", 1, RuleKind::Policy, "policy ACCEPT"));
    auto inner = ft.consume(table(0xb, 2, "filter", OUTPUT, 1));
    auto outer = ft.consume(table(0xa, 2, "filter", INPUT, 0));
    ASSERT_TRUE(inner_raw && inner && outer);
    EXPECT_EQ(format_fate(*inner_raw), "ACCEPT by raw/OUTPUT policy ACCEPT");
    EXPECT_EQ(format_fate(*inner), "ACCEPT by filter/OUTPUT policy ACCEPT");
    EXPECT_EQ(inner->pkt.skb, 0xbu);
    EXPECT_EQ(format_fate(*outer), "DROP by filter/INPUT rule 3: -A INPUT -p tcp -j REJECT --reject-with tcp-reset");
    EXPECT_EQ(ft.in_flight(), 0u);
}

TEST(Fate, ConcurrentCpusAndSameSkbAtAnotherHook) {
    FateTracker ft;
    ft.consume(rule(0xa, 0, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j ACCEPT"));
    ft.consume(rule(0xa, 1, "filter", INPUT, "INPUT", 2, RuleKind::Rule, "-A INPUT -j DROP"));
    ft.consume(rule(0xa, 0, "mangle", INPUT, "INPUT", 1, RuleKind::Policy, "policy ACCEPT"));
    auto f1 = ft.consume(table(0xa, 1, "filter", INPUT, 0));
    auto f0 = ft.consume(table(0xa, 0, "filter", INPUT, 1));
    EXPECT_EQ(f1->rulenum, 2u);
    EXPECT_EQ(f0->rulenum, 1u);
    EXPECT_EQ(ft.in_flight(), 1u);  // mangle still waiting
}

TEST(Fate, NoRuleEventsSeen) {
    FateTracker ft;
    auto f = ft.consume(table(0xd, 0, "filter", INPUT, 0));
    ASSERT_TRUE(f);
    EXPECT_FALSE(f->decided);
    EXPECT_EQ(format_fate(*f), "DROP by filter at INPUT (no rule event seen)");
}

TEST(Fate, UnconditionalRuleReportedAsPolicyFormatsAsRule) {
    FateTracker ft;
    ft.consume(rule(0xe, 0, "filter", INPUT, "INPUT", 5, RuleKind::Policy, "-A INPUT -j DROP"));
    auto f = ft.consume(table(0xe, 0, "filter", INPUT, 0));
    EXPECT_EQ(format_fate(*f), "DROP by filter/INPUT rule 5: -A INPUT -j DROP");
}

TEST(Fate, MissingAndStaleText) {
    FateTracker ft;
    ft.consume(rule(0xf, 0, "filter", INPUT, "INPUT", 3, RuleKind::Rule));
    EXPECT_EQ(format_fate(*ft.consume(table(0xf, 0, "filter", INPUT, 0))), "DROP by filter/INPUT rule 3 (rule text unavailable)");
    auto ev = rule(0xf, 0, "filter", INPUT, "INPUT", 3, RuleKind::Rule, "-A INPUT -j DROP");
    ev.rule_text_stale = true;
    ft.consume(ev);
    EXPECT_EQ(format_fate(*ft.consume(table(0xf, 0, "filter", INPUT, 0))),
              "DROP by filter/INPUT rule 3 (ruleset changed, text may be stale): -A INPUT -j DROP");
}

TEST(Fate, Ipv6AndQueueVerdict) {
    FateTracker ft;
    ft.consume(rule(0x6, 0, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j NFQUEUE --queue-num 3", 10));
    auto f = ft.consume(table(0x6, 0, "filter", INPUT, (3u << 16) | 3u, 10));
    EXPECT_FALSE(f->dropped());
    EXPECT_EQ(format_fate(*f), "QUEUE by ip6tables filter/INPUT rule 1: -A INPUT -j NFQUEUE --queue-num 3");
}

TEST(Fate, BoundedInFlight) {
    FateTracker ft(FateOptions{3});
    for (uint64_t skb = 1; skb <= 5; ++skb) ft.consume(rule(skb, 0, "filter", INPUT, "INPUT", 1, RuleKind::Rule));
    EXPECT_EQ(ft.in_flight(), 3u);
    EXPECT_EQ(ft.evicted(), 2u);
    // The oldest were evicted: their table calls come out undecided.
    EXPECT_FALSE(ft.consume(table(1, 0, "filter", INPUT, 0))->decided);
    EXPECT_TRUE(ft.consume(table(5, 0, "filter", INPUT, 0))->decided);
    // A repeated Rule event refreshes the entry but not its age.
    EXPECT_EQ(ft.in_flight(), 2u);
}

TEST(Fate, NftEventsAreIgnored) {
    FateTracker ft;
    TraceEvent ev = table(1, 0, "t", INPUT, 0);
    ev.kind = EventKind::Nft;
    EXPECT_FALSE(ft.consume(ev));
}

TraceEvent nft_rule(uint64_t skb, std::string chain, uint32_t num, int32_t verdict, std::optional<std::string> text,
                    RuleKind kind = RuleKind::Rule) {
    TraceEvent ev;
    ev.kind = EventKind::NftRule;
    ev.pkt.skb = skb;
    ev.pkt.cpu = 0;
    ev.pf = 2;
    ev.table = "filter";
    ev.chain = std::move(chain);
    ev.base_chain = "INPUT";
    ev.hook_unknown = true;
    ev.rulenum = num;
    ev.rule_kind = kind;
    ev.nft_verdict = verdict;
    ev.nft_verdict_known = true;
    ev.rule_text = std::move(text);
    return ev;
}

TEST(Fate, NftRuleEventsDecideTheBaseChainsVerdict) {
    FateTracker ft;
    EXPECT_FALSE(ft.consume(nft_rule(7, "INPUT", 1, -3, "-A INPUT -p icmp -j BLOCK")));
    EXPECT_FALSE(ft.consume(nft_rule(7, "BLOCK", 1, 0, "-A BLOCK -s 10.77.0.2/32 -j DROP")));
    // A legacy table call of the same packet is another call.
    EXPECT_FALSE(ft.consume(rule(7, 0, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j ACCEPT")));
    TraceEvent verdict = table(7, 0, "filter", INPUT, 0);
    verdict.kind = EventKind::Nft;
    verdict.chain = "INPUT";
    auto f = ft.consume(verdict);
    ASSERT_TRUE(f);
    EXPECT_TRUE(f->nft);
    EXPECT_TRUE(f->decided);
    EXPECT_EQ(f->rules_seen, 2u);
    EXPECT_EQ(format_fate(*f), "DROP by nft ip filter/BLOCK rule 1: -A BLOCK -s 10.77.0.2/32 -j DROP");
    auto legacy = ft.consume(table(7, 0, "filter", INPUT, 1));
    ASSERT_TRUE(legacy);
    EXPECT_FALSE(legacy->nft);
    EXPECT_EQ(format_fate(*legacy), "ACCEPT by filter/INPUT rule 1: -A INPUT -j ACCEPT");
    EXPECT_EQ(ft.in_flight(), 0u);
}

TEST(Fate, NftPolicyAndUnknownPosition) {
    FateTracker ft;
    ft.consume(nft_rule(8, "INPUT", 0, -1, std::nullopt));
    ft.consume(nft_rule(8, "INPUT", 0, 0, "policy drop", RuleKind::Policy));
    TraceEvent verdict = table(8, 0, "filter", INPUT, 0);
    verdict.kind = EventKind::Nft;
    verdict.chain = "INPUT";
    auto f = ft.consume(verdict);
    ASSERT_TRUE(f);
    EXPECT_EQ(format_fate(*f), "DROP by nft ip filter/INPUT policy drop");
    ft.consume(nft_rule(9, "INPUT", 0, 0, std::nullopt));
    verdict.pkt.skb = 9;
    f = ft.consume(verdict);
    ASSERT_TRUE(f);
    EXPECT_EQ(format_fate(*f), "DROP by nft ip filter/INPUT rule ? (rule text unavailable)");
}
