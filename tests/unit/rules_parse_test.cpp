// iptables-save parsing, rule lookup and rule-text escaping (rules.hpp).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "iptables_trace/rules.hpp"

using namespace itr;

namespace {

std::string fixture(const std::string& name) {
    std::ifstream in(std::string(ITR_TEST_DATA_DIR) + "/rules/" + name, std::ios::binary);
    EXPECT_TRUE(in) << name;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

RuleSet parse_ok(const std::string& text) {
    auto r = parse_iptables_save(text);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    return r.ok() ? *r : RuleSet{};
}

}  // namespace

TEST(RulesParse, TablesChainsAndUserChains) {
    RuleSet rs = parse_ok(fixture("ipv4.save"));
    ASSERT_EQ(rs.tables.size(), 4u);
    EXPECT_EQ(rs.tables[0].name, "mangle");
    EXPECT_EQ(rs.tables[3].name, "filter");
    const Table* filter = rs.find("filter");
    ASSERT_NE(filter, nullptr);
    ASSERT_EQ(filter->chains.size(), 5u);
    const Chain* input = filter->find("INPUT");
    ASSERT_NE(input, nullptr);
    EXPECT_TRUE(input->builtin());
    EXPECT_EQ(*input->policy, "DROP");
    ASSERT_EQ(input->rules.size(), 5u);
    EXPECT_EQ(input->rules[0], "-A INPUT -i lo -j ACCEPT");
    const Chain* web = filter->find("WEB");
    ASSERT_NE(web, nullptr);
    EXPECT_FALSE(web->builtin());
    ASSERT_EQ(web->rules.size(), 2u);
    EXPECT_EQ(web->rules[0], "-A WEB -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
    EXPECT_EQ(filter->find("NOPE"), nullptr);
}

TEST(RulesParse, CommentsWithSpacesAndQuotes) {
    RuleSet rs = parse_ok(fixture("ipv4.save"));
    const Chain* input = rs.find("filter")->find("INPUT");
    EXPECT_EQ(input->rules[1],
              R"(-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -m comment --comment "ssh from \"lan\" \\ ok" -j ACCEPT)");
    EXPECT_EQ(rs.find("filter")->find("WEB")->rules[1], R"(-A WEB -m comment --comment "it\'s a web rule" -j RETURN)");
    EXPECT_EQ(rs.find("filter")->find("LOGDROP")->rules[0], R"(-A LOGDROP -j LOG --log-prefix "dropped: ")");
}

TEST(RulesParse, MultiportAndNegations) {
    RuleSet rs = parse_ok(fixture("ipv4.save"));
    const Chain* input = rs.find("filter")->find("INPUT");
    EXPECT_EQ(input->rules[2], "-A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -j WEB");
    EXPECT_EQ(input->rules[3], "-A INPUT ! -s 192.168.0.0/16 ! -i eth0 -p udp -j LOGDROP");
}

TEST(RulesParse, CountersPrefixIsStripped) {
    RuleSet with = parse_ok(fixture("ipv4_counters.save"));
    RuleSet without = parse_ok(fixture("ipv4.save"));
    ASSERT_EQ(with.tables.size(), without.tables.size());
    for (size_t t = 0; t < with.tables.size(); ++t) {
        ASSERT_EQ(with.tables[t].chains.size(), without.tables[t].chains.size());
        for (size_t c = 0; c < with.tables[t].chains.size(); ++c) {
            EXPECT_EQ(with.tables[t].chains[c].rules, without.tables[t].chains[c].rules);
            EXPECT_EQ(with.tables[t].chains[c].policy, without.tables[t].chains[c].policy);
        }
    }
    EXPECT_EQ(with.find("filter")->find("INPUT")->rules[0], "-A INPUT -i lo -j ACCEPT");
}

TEST(RulesParse, TablesWithNoRules) {
    RuleSet rs = parse_ok(fixture("ipv4.save"));
    const Table* raw = rs.find("raw");
    ASSERT_NE(raw, nullptr);
    ASSERT_EQ(raw->chains.size(), 2u);
    EXPECT_TRUE(raw->find("PREROUTING")->rules.empty());
    const Chain* empty = rs.find("mangle")->find("EMPTYCHAIN");
    ASSERT_NE(empty, nullptr);
    EXPECT_FALSE(empty->builtin());
    EXPECT_TRUE(empty->rules.empty());
    // An empty dump (no table loaded) is an empty ruleset, not an error.
    EXPECT_TRUE(parse_ok("").tables.empty());
}

TEST(RulesParse, Ipv6) {
    RuleSet rs = parse_ok(fixture("ipv6.save"));
    const Table* filter = rs.find("filter");
    ASSERT_NE(filter, nullptr);
    EXPECT_EQ(filter->find("INPUT")->rules[1],
              "-A INPUT ! -s 2001:db8::/32 -p tcp -m tcp --dport 22 -j REJECT --reject-with icmp6-port-unreachable");
    EXPECT_EQ(filter->find("ICMP6")->rules[0], "-A ICMP6 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT");
}

TEST(RulesParse, CommentHoldingANewlineContinuesTheRule) {
    RuleSet rs = parse_ok(fixture("newline_comment.save"));
    const Chain* input = rs.find("filter")->find("INPUT");
    ASSERT_EQ(input->rules.size(), 2u);
    EXPECT_EQ(input->rules[0], "-A INPUT -m comment --comment \"two\nlines\ttab\001ctl\" -j ACCEPT");
    EXPECT_EQ(input->rules[1], "-A INPUT -j ACCEPT");
    EXPECT_EQ(escape_rule_text(input->rules[0]), R"(-A INPUT -m comment --comment "two\nlines\ttab\x01ctl" -j ACCEPT)");
}

TEST(RulesParse, CrlfAndBlankLines) {
    RuleSet rs = parse_ok("*filter\r\n:INPUT ACCEPT [0:0]\r\n\r\n-A INPUT -j DROP\r\nCOMMIT\r\n");
    EXPECT_EQ(rs.find("filter")->find("INPUT")->rules.at(0), "-A INPUT -j DROP");
}

TEST(RulesParse, Errors) {
    EXPECT_FALSE(parse_iptables_save("-A INPUT -j DROP\n").ok());
    EXPECT_FALSE(parse_iptables_save(":INPUT ACCEPT [0:0]\n").ok());
    EXPECT_FALSE(parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\n").ok());  // no COMMIT
    EXPECT_FALSE(parse_iptables_save("*filter\n:INPUT\nCOMMIT\n").ok());
    EXPECT_FALSE(parse_iptables_save("*filter\n:INPUT ACCEPT [x:0]\nCOMMIT\n").ok());
    EXPECT_FALSE(parse_iptables_save("COMMIT\n").ok());
    EXPECT_FALSE(parse_iptables_save("garbage\n").ok());
    auto r = parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\n-A \nCOMMIT\n");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("line 3"), std::string::npos) << r.error().what;
}

TEST(RulesParse, RuleForUndeclaredChainIsKept) {
    RuleSet rs = parse_ok("*filter\n-A X -j DROP\nCOMMIT\n");
    ASSERT_NE(rs.find("filter")->find("X"), nullptr);
    EXPECT_FALSE(rs.find("filter")->find("X")->builtin());
}

// --- lookup ---------------------------------------------------------------

class RulesLookup : public ::testing::Test {
protected:
    void SetUp() override { rs = parse_ok(fixture("ipv4.save")); }
    RuleSet rs;
};

TEST_F(RulesLookup, RuleByNumber) {
    auto r = lookup_rule(rs, "filter", "INPUT", 3, RuleKind::Rule);
    EXPECT_EQ(r.status, LookupStatus::Ok);
    EXPECT_EQ(*r.text, "-A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -j WEB");
    EXPECT_EQ(r.kind, RuleKind::Rule);
    r = lookup_rule(rs, "filter", "LOGDROP", 2, RuleKind::Rule);
    EXPECT_EQ(*r.text, "-A LOGDROP -j DROP");
    r = lookup_rule(rs, "nat", "POSTROUTING", 1, RuleKind::Rule);
    EXPECT_EQ(*r.text, "-A POSTROUTING -o eth0 -j MASQUERADE");
}

TEST_F(RulesLookup, PolicyAndReturn) {
    auto r = lookup_rule(rs, "filter", "INPUT", 6, RuleKind::Policy);
    EXPECT_EQ(r.status, LookupStatus::Ok);
    EXPECT_EQ(*r.text, "policy DROP");
    EXPECT_EQ(r.kind, RuleKind::Policy);
    r = lookup_rule(rs, "filter", "OUTPUT", 1, RuleKind::Policy);
    EXPECT_EQ(*r.text, "policy ACCEPT");
    r = lookup_rule(rs, "filter", "WEB", 3, RuleKind::Return);
    EXPECT_EQ(r.status, LookupStatus::Ok);
    EXPECT_EQ(*r.text, "return");
    EXPECT_EQ(r.kind, RuleKind::Return);
    r = lookup_rule(rs, "raw", "PREROUTING", 1, RuleKind::Policy);
    EXPECT_EQ(*r.text, "policy ACCEPT");
}

TEST_F(RulesLookup, UnconditionalVerdictRuleReportedAsPolicyIsARule) {
    // The kernel reports `-A INPUT -j DROP` (rule 5) with comment "policy".
    auto r = lookup_rule(rs, "filter", "INPUT", 5, RuleKind::Policy);
    EXPECT_EQ(r.status, LookupStatus::Ok);
    EXPECT_EQ(*r.text, "-A INPUT -j DROP");
    EXPECT_EQ(r.kind, RuleKind::Rule);
    r = lookup_rule(rs, "filter", "WEB", 2, RuleKind::Return);
    EXPECT_EQ(r.kind, RuleKind::Rule);
}

TEST_F(RulesLookup, UnknownKindResolvesByNumber) {
    EXPECT_EQ(lookup_rule(rs, "filter", "INPUT", 1, RuleKind::Unknown).kind, RuleKind::Rule);
    auto r = lookup_rule(rs, "filter", "INPUT", 6, RuleKind::Unknown);
    EXPECT_EQ(*r.text, "policy DROP");
    EXPECT_EQ(r.kind, RuleKind::Policy);
    r = lookup_rule(rs, "filter", "WEB", 3, RuleKind::Unknown);
    EXPECT_EQ(*r.text, "return");
    EXPECT_EQ(lookup_rule(rs, "filter", "WEB", 9, RuleKind::Unknown).status, LookupStatus::OutOfRange);
}

TEST_F(RulesLookup, OutOfRangeAndUnknownNames) {
    EXPECT_EQ(lookup_rule(rs, "filter", "INPUT", 6, RuleKind::Rule).status, LookupStatus::OutOfRange);
    EXPECT_EQ(lookup_rule(rs, "filter", "INPUT", 0, RuleKind::Rule).status, LookupStatus::OutOfRange);
    EXPECT_FALSE(lookup_rule(rs, "filter", "INPUT", 99, RuleKind::Rule).text);
    EXPECT_EQ(lookup_rule(rs, "security", "INPUT", 1, RuleKind::Rule).status, LookupStatus::NoTable);
    EXPECT_EQ(lookup_rule(rs, "filter", "NOPE", 1, RuleKind::Rule).status, LookupStatus::NoChain);
}

TEST_F(RulesLookup, ChainEndWithWrongNumberIsInconsistent) {
    // A policy hit numbered 9 on a 5-rule chain: the chain changed.
    auto r = lookup_rule(rs, "filter", "INPUT", 9, RuleKind::Policy);
    EXPECT_EQ(r.status, LookupStatus::Inconsistent);
    EXPECT_EQ(*r.text, "policy DROP");
    // Kinds that cannot happen on that chain type.
    EXPECT_EQ(lookup_rule(rs, "filter", "INPUT", 6, RuleKind::Return).status, LookupStatus::Inconsistent);
    EXPECT_EQ(lookup_rule(rs, "filter", "WEB", 3, RuleKind::Policy).status, LookupStatus::Inconsistent);
}

TEST(RulesLookupFamilies, PicksTheFamilysRuleset) {
    FamilyRuleSets both{parse_ok(fixture("ipv4.save")), parse_ok(fixture("ipv6.save"))};
    EXPECT_EQ(*lookup_rule(both, Family::Ipv6, "filter", "ICMP6", 1, RuleKind::Rule).text,
              "-A ICMP6 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT");
    EXPECT_EQ(*lookup_rule(both, Family::Ipv4, "filter", "INPUT", 1, RuleKind::Rule).text, "-A INPUT -i lo -j ACCEPT");
    EXPECT_EQ(family_from_pf(2), Family::Ipv4);
    EXPECT_EQ(family_from_pf(10), Family::Ipv6);
    EXPECT_FALSE(family_from_pf(7));
}

// --- escaping ---------------------------------------------------------------

TEST(RulesEscape, OddCharacters) {
    EXPECT_EQ(escape_rule_text("-A INPUT -j DROP"), "-A INPUT -j DROP");
    EXPECT_EQ(escape_rule_text("a\nb\rc\td"), R"(a\nb\rc\td)");
    EXPECT_EQ(escape_rule_text(std::string("x\0y", 3)), R"(x\x00y)");
    EXPECT_EQ(escape_rule_text("\x1b[31mred\x7f"), R"(\x1b[31mred\x7f)");
    // Valid UTF-8 passes; invalid bytes, overlongs, surrogates and C1 controls do not.
    EXPECT_EQ(escape_rule_text("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
    EXPECT_EQ(escape_rule_text("\xff\xc3"), R"(\xff\xc3)");
    EXPECT_EQ(escape_rule_text("\xc0\xaf"), R"(\xc0\xaf)");
    EXPECT_EQ(escape_rule_text("\xed\xa0\x80"), R"(\xed\xa0\x80)");
    EXPECT_EQ(escape_rule_text("\xc2\x9b"), R"(\xc2\x9b)");
    // Backslashes and quotes as iptables-save printed them are kept.
    EXPECT_EQ(escape_rule_text(R"(--comment "a \"b\" \\ c")"), R"(--comment "a \"b\" \\ c")");
}
