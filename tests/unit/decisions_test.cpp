// What decided the traced packets: aggregation and the summary's lines.
#include <gtest/gtest.h>

// Designated initializers name only the fields a case is about.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "iptables_trace/decisions.hpp"

using namespace itr;

namespace {

Fate fate(std::string chain, uint32_t rulenum, RuleKind kind, uint32_t verdict, std::optional<std::string> text,
          std::string table = "filter")
{
    return Fate{.pf = 2, .hook = 1, .table = std::move(table), .verdict = verdict, .decided = true,
                .chain = std::move(chain), .rulenum = rulenum, .rule_kind = kind, .rule_text = std::move(text)};
}

}  // namespace

TEST(Decisions, NothingDecidedSaysNothing) {
    DecisionTally t;
    EXPECT_TRUE(t.empty());
    EXPECT_TRUE(t.lines().empty());
}

TEST(Decisions, MostFirstThenFirstSeen) {
    DecisionTally t;
    const auto drop = fate("itr-drop", 1, RuleKind::Rule, 0, "-A itr-drop -s 10.99.0.1/32 -p icmp -j DROP");
    const auto policy = fate("INPUT", 2, RuleKind::Policy, 0, "policy DROP");
    const auto accept = fate("INPUT", 1, RuleKind::Rule, 1, "-A INPUT -p icmp -j ACCEPT");
    t.add(accept);
    t.add(policy);
    for (int i = 0; i < 11; i++)
        t.add(drop);
    t.add(policy);
    EXPECT_EQ(t.lines(), (std::vector<std::string>{
                             "what decided the traced packets, per table (most first):",
                             "  11  DROP by filter/itr-drop rule 1: -A itr-drop -s 10.99.0.1/32 -p icmp -j DROP",
                             "   2  DROP by filter/INPUT policy DROP",
                             "   1  ACCEPT by filter/INPUT rule 1: -A INPUT -p icmp -j ACCEPT",
                         }));
}

TEST(Decisions, KeyedByRuleNotByText) {
    DecisionTally t;
    t.add(fate("INPUT", 3, RuleKind::Rule, 0, std::nullopt));
    t.add(fate("INPUT", 3, RuleKind::Rule, 0, "-A INPUT -j DROP"));
    t.add(fate("INPUT", 3, RuleKind::Rule, 0, "-A INPUT -j DROP", "raw"));
    auto f6 = fate("INPUT", 3, RuleKind::Rule, 0, "-A INPUT -j DROP");
    f6.pf = 10;
    t.add(f6);
    const auto l = t.lines();
    ASSERT_EQ(l.size(), 4u);
    EXPECT_EQ(l[1], "  2  DROP by filter/INPUT rule 3: -A INPUT -j DROP") << "the newest text is shown";
    EXPECT_EQ(l[2], "  1  DROP by raw/INPUT rule 3: -A INPUT -j DROP");
    EXPECT_EQ(l[3], "  1  DROP by ip6tables filter/INPUT rule 3: -A INPUT -j DROP");
}

TEST(Decisions, UndecidedCallsCountPerHook) {
    DecisionTally t;
    const Fate f{.pf = 2, .hook = 1, .table = "filter", .verdict = 1};
    t.add(f);
    t.add(f);
    EXPECT_EQ(t.lines()[1], "  2  ACCEPT by filter at INPUT (no rule event seen)");
}

TEST(Decisions, TopTenAndTheRest) {
    DecisionTally t;
    for (uint32_t r = 1; r <= 13; r++)
        for (uint32_t i = 0; i < 20 - r; i++)
            t.add(fate("INPUT", r, RuleKind::Rule, 1, "-A INPUT -j ACCEPT"));
    const auto l = t.lines();
    ASSERT_EQ(l.size(), 12u);
    EXPECT_EQ(l[1], "  19  ACCEPT by filter/INPUT rule 1: -A INPUT -j ACCEPT");
    EXPECT_EQ(l[10], "  10  ACCEPT by filter/INPUT rule 10: -A INPUT -j ACCEPT");
    EXPECT_EQ(l[11], "and 3 more rules or policies (24 packets)");
    EXPECT_EQ(t.lines(2).size(), 4u);
}
