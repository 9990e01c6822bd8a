// Rule text written by whoever owns a network namespace: strings holding
// newlines that fake `-A` lines, stray raw quotes, and a ruleset that changes
// on every batch (issue 13, item 9). Parser, kernel-layout check, the re-read
// limiter and the legacy Enricher with a fake source.
#include <gtest/gtest.h>

#include "iptables_trace/enricher.hpp"
#include "iptables_trace/read_limiter.hpp"
#include "iptables_trace/rules.hpp"
#include "iptables_trace/xt_layout.hpp"

using namespace itr;

namespace {

constexpr const char* kHead = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n";

RuleSet parse(const std::string& text) {
    auto r = parse_iptables_save(text);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    return r.ok() ? *r : RuleSet{};
}

// The kernel's layout of a filter table whose INPUT holds `input` rules.
XtLayout filter_layout(size_t input) {
    XtLayout l;
    l.chains = {{"INPUT", true, "ACCEPT", input}, {"FORWARD", true, "ACCEPT", 0}, {"OUTPUT", true, "ACCEPT", 0}};
    return l;
}

}  // namespace

// ---- the parser -----------------------------------------------------------

TEST(UntrustedSave, NewlineInACommentMakesNoPhantomRule) {
    // What iptables-save prints for: -A INPUT -m comment --comment $'x\n-A INPUT -j DROP' -j ACCEPT
    // followed by a real second rule.
    RuleSet rs = parse(std::string(kHead) +
                       "-A INPUT -m comment --comment \"x\n-A INPUT -j DROP\" -j ACCEPT\n"
                       "-A INPUT -p udp -j REJECT\nCOMMIT\n");
    const Chain* input = rs.find("filter")->find("INPUT");
    ASSERT_EQ(input->rules.size(), 2u);
    EXPECT_EQ(input->rules[0], "-A INPUT -m comment --comment \"x\n-A INPUT -j DROP\" -j ACCEPT");
    EXPECT_EQ(input->rules[1], "-A INPUT -p udp -j REJECT");
    // The text could also be a stray raw quote swallowing a real rule: the
    // chain's numbers are not trusted.
    EXPECT_TRUE(rs.find("filter")->doubtful("INPUT"));
    EXPECT_FALSE(rs.find("filter")->doubtful("OUTPUT"));
    RuleLookup r = lookup_rule(rs, "filter", "INPUT", 2, RuleKind::Rule);
    EXPECT_EQ(r.text, "-A INPUT -p udp -j REJECT");
    EXPECT_TRUE(r.doubtful);
}

TEST(UntrustedSave, EscapedQuotesAndBackslashesDoNotEndTheArgument) {
    RuleSet rs = parse(std::string(kHead) +
                       "-A INPUT -m comment --comment \"a \\\" b \\\\\" -j ACCEPT\n"
                       "-A INPUT -m comment --comment \"say \\\"hi\\\"\nbye\" -j DROP\n-A INPUT -j ACCEPT\nCOMMIT\n");
    const Table* t = rs.find("filter");
    ASSERT_EQ(t->find("INPUT")->rules.size(), 3u);
    EXPECT_EQ(t->find("INPUT")->rules[1], "-A INPUT -m comment --comment \"say \\\"hi\\\"\nbye\" -j DROP");
    // "bye" cannot start a line of iptables-save's own: no doubt.
    EXPECT_FALSE(t->doubtful("INPUT"));
    EXPECT_TRUE(rs.doubts.empty());
}

TEST(UntrustedSave, RawQuoteSwallowingARealRuleIsDoubted) {
    // Interface names are printed raw: `-i "a` ... `-i b"` pair up like a quote.
    RuleSet rs = parse(std::string(kHead) + ":X - [0:0]\n-A INPUT -i \"a -j ACCEPT\n-A X -i b\" -j DROP\n"
                                            "-A INPUT -j ACCEPT\nCOMMIT\n");
    const Table* t = rs.find("filter");
    EXPECT_TRUE(t->doubtful("INPUT"));
    EXPECT_TRUE(t->doubtful("X"));
}

TEST(UntrustedSave, UnclosedRawQuoteDoesNotEatTheTable) {
    RuleSet rs = parse(std::string(kHead) + "-A INPUT -i \"a -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n");
    const Table* t = rs.find("filter");
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->find("INPUT")->rules.size(), 2u);
    EXPECT_EQ(t->find("INPUT")->rules[1], "-A INPUT -j DROP");
    EXPECT_FALSE(t->doubts.empty());
}

TEST(UntrustedSave, LinesIptablesSaveNeverPrintsInsideATableAreDoubted) {
    auto doubted = [](const std::string& body) {
        RuleSet rs = parse(std::string(kHead) + body);
        const Table* t = rs.find("filter");
        return !rs.doubts.empty() || (t && t->doubtful("INPUT"));
    };
    EXPECT_FALSE(doubted("-A INPUT -j ACCEPT\nCOMMIT\n"));
    // A raw newline in an interface name hiding the rest of the rule.
    EXPECT_TRUE(doubted("-A INPUT -i x\n# y -j ACCEPT\nCOMMIT\n"));
    EXPECT_TRUE(doubted("-A INPUT -j ACCEPT\n:INPUT DROP [0:0]\nCOMMIT\n"));  // policy redeclared after rules
    EXPECT_TRUE(doubted(":FORWARD DROP [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n"));  // declared twice
    EXPECT_TRUE(doubted("-A NEW -j ACCEPT\nCOMMIT\n"));                        // undeclared chain
    EXPECT_TRUE(doubted("-A INPUT -j ACCEPT\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"));  // table twice
    EXPECT_TRUE(doubted("-A INPUT -j ACCEPT\n*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"));
    // The declared policy is kept, not the one a later line claims.
    RuleSet rs = parse(std::string(kHead) + "-A INPUT -j ACCEPT\n:INPUT DROP [0:0]\nCOMMIT\n");
    EXPECT_EQ(rs.find("filter")->find("INPUT")->policy, "ACCEPT");
}

TEST(UntrustedSave, RawNewlineWithoutQuotesContinuesTheRule) {
    RuleSet rs = parse(std::string(kHead) + "-A INPUT -i a\nb -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n");
    const Chain* input = rs.find("filter")->find("INPUT");
    ASSERT_EQ(input->rules.size(), 2u);
    EXPECT_EQ(input->rules[0], "-A INPUT -i a\nb -j ACCEPT");
}

// ---- the kernel's layout ----------------------------------------------------

namespace {

XtEntryView std_entry(uint32_t off, int32_t verdict) { return XtEntryView{off, "", verdict, ""}; }
XtEntryView target_entry(uint32_t off, std::string target) { return XtEntryView{off, std::move(target), {}, ""}; }
XtEntryView error_entry(uint32_t off, std::string name) { return XtEntryView{off, "ERROR", {}, std::move(name)}; }

}  // namespace

TEST(XtLayout, BuiltinAndUserChainsFromEntries) {
    // INPUT: 2 rules + policy DROP; FORWARD: policy ACCEPT; OUTPUT: 1 rule +
    // policy ACCEPT; user chain WEB: 1 rule + RETURN; the final ERROR.
    std::vector<XtEntryView> e = {
        target_entry(0, "LOG"), std_entry(100, -2), std_entry(200, -1),   // INPUT
        std_entry(300, -2),                                               // FORWARD
        target_entry(400, "REJECT"), std_entry(500, -2),                  // OUTPUT
        error_entry(600, "WEB"), std_entry(700, -2), std_entry(800, -5),  // WEB
        error_entry(900, "ERROR")};
    const uint32_t hooks = (1u << 1) | (1u << 2) | (1u << 3);
    XtLayout l = xt_chain_layout(e, hooks, {0, 0, 300, 400, 0}, {0, 200, 300, 500, 0});
    ASSERT_TRUE(l.error.empty()) << l.error;
    ASSERT_EQ(l.chains.size(), 4u);
    EXPECT_EQ(l.chains[0], (XtChainShape{"INPUT", true, "DROP", 2}));
    EXPECT_EQ(l.chains[1], (XtChainShape{"FORWARD", true, "ACCEPT", 0}));
    EXPECT_EQ(l.chains[2], (XtChainShape{"OUTPUT", true, "ACCEPT", 1}));
    EXPECT_EQ(l.chains[3], (XtChainShape{"WEB", false, std::nullopt, 1}));
    // A user chain that does not end in RETURN is not iptables' layout.
    e[7] = std_entry(700, -1);
    e[8] = std_entry(800, -1);
    EXPECT_FALSE(xt_chain_layout(e, hooks, {0, 0, 300, 400, 0}, {0, 200, 300, 500, 0}).error.empty());
    // No final ERROR entry.
    e.pop_back();
    EXPECT_FALSE(xt_chain_layout(e, hooks, {0, 0, 300, 400, 0}, {0, 200, 300, 500, 0}).error.empty());
}

TEST(XtLayout, PhantomRuleFromARawNewlineIsCaughtByTheCount) {
    // An interface name holding "\n-A INPUT -j DROP" (written with a raw
    // setsockopt) prints as a line no parser can tell from a rule.
    RuleSet rs = parse(std::string(kHead) + "-A INPUT -i x\n-A INPUT -j DROP -j ACCEPT\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n");
    ASSERT_EQ(rs.find("filter")->find("INPUT")->rules.size(), 3u);
    EXPECT_FALSE(rs.find("filter")->doubtful("INPUT"));
    check_against_kernel(rs, "filter", filter_layout(2));
    EXPECT_TRUE(rs.find("filter")->doubtful("INPUT"));
    EXPECT_FALSE(rs.find("filter")->doubtful("OUTPUT"));
    // No number of that chain maps to a known text: none is given.
    for (RuleKind k : {RuleKind::Rule, RuleKind::Policy, RuleKind::Unknown}) {
        RuleLookup r = lookup_rule(rs, "filter", "INPUT", 2, k);
        EXPECT_TRUE(r.doubtful);
        EXPECT_FALSE(r.text);
        EXPECT_FALSE(r.ok());
    }
    EXPECT_EQ(lookup_rule(rs, "filter", "OUTPUT", 1, RuleKind::Policy).text, "policy ACCEPT");
}

TEST(XtLayout, MatchingTextStaysTrusted) {
    RuleSet rs = parse(std::string(kHead) + "-A INPUT -j ACCEPT\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n");
    check_against_kernel(rs, "filter", filter_layout(2));
    EXPECT_FALSE(rs.find("filter")->doubtful("INPUT"));
    EXPECT_TRUE(rs.doubts.empty());
    EXPECT_FALSE(lookup_rule(rs, "filter", "INPUT", 2, RuleKind::Rule).doubtful);
}

TEST(XtLayout, OtherTablesPoliciesAndUnreadableLayoutsAreDoubted) {
    RuleSet extra = parse(std::string(kHead) + "-A INPUT -j ACCEPT\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n");
    check_against_kernel(extra, "filter", filter_layout(1));
    EXPECT_FALSE(extra.doubts.empty());
    RuleSet policy = parse("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
    check_against_kernel(policy, "filter", filter_layout(0));
    EXPECT_TRUE(policy.find("filter")->doubtful("FORWARD"));
    RuleSet broken = parse(std::string(kHead) + "COMMIT\n");
    check_against_kernel(broken, "filter", XtLayout{{}, "entries outside any chain"});
    EXPECT_TRUE(broken.find("filter")->doubtful("INPUT"));
}

// ---- the re-read limiter ------------------------------------------------------

TEST(ReadLimiter, OneReReadPerNetnsPerInterval) {
    ReadLimiter lim(std::chrono::milliseconds(500));
    const uint64_t ms = 1000000;
    EXPECT_TRUE(lim.try_acquire(7, 1000 * ms));
    EXPECT_FALSE(lim.ready(7, 1000 * ms + 1));
    EXPECT_FALSE(lim.try_acquire(7, 1499 * ms));
    EXPECT_TRUE(lim.try_acquire(8, 1001 * ms));  // another netns has its own budget
    EXPECT_TRUE(lim.ready(7, 1500 * ms));
    EXPECT_TRUE(lim.try_acquire(7, 1500 * ms));
    EXPECT_FALSE(lim.try_acquire(7, 1500 * ms));
    // A refusal does not push the next chance further away.
    EXPECT_TRUE(lim.try_acquire(7, 2000 * ms));
    // A clock that went back allows nothing.
    EXPECT_FALSE(lim.try_acquire(7, 1000 * ms));
    ReadLimiter off(std::chrono::nanoseconds(0));
    EXPECT_TRUE(off.try_acquire(7, 5));
    EXPECT_TRUE(off.try_acquire(7, 5));
}

TEST(ReadLimiter, ForgetsTheOldestNetnsWhenFull) {
    ReadLimiter lim(std::chrono::seconds(1), 2);
    EXPECT_TRUE(lim.try_acquire(1, 100));
    EXPECT_TRUE(lim.try_acquire(2, 200));
    EXPECT_TRUE(lim.try_acquire(3, 300));  // 1 is forgotten
    EXPECT_FALSE(lim.try_acquire(2, 400));
    EXPECT_FALSE(lim.try_acquire(3, 400));
    EXPECT_TRUE(lim.try_acquire(1, 400));
}

// ---- the legacy Enricher --------------------------------------------------------

namespace {

constexpr uint32_t kNs = 4026532100u;

// One filter table whose text and fingerprint the test sets; a clock that
// moves 1 µs per reading.
class ScriptedSource : public RulesetSource {
public:
    uint64_t clock = 1000000000;
    Fingerprint fp{true, 1, std::nullopt};
    std::string text;
    int saves = 0, fingerprints = 0;

    uint64_t now_ns() override { return clock += 1000; }
    uint32_t own_netns() override { return kNs; }
    Result<Fingerprint> fingerprint(uint32_t, Family, const std::string&) override {
        ++fingerprints;
        return fp;
    }
    Result<std::vector<std::string>> list_tables(uint32_t, Family f) override {
        if (f == Family::Ipv4) return std::vector<std::string>{"filter"};
        return std::vector<std::string>{};
    }
    Result<std::string> save(uint32_t, Family f, const std::string&) override {
        ++saves;
        return f == Family::Ipv4 ? text : std::string();
    }
};

TraceEvent hit(uint64_t t, uint32_t num) {
    TraceEvent ev;
    ev.kind = EventKind::Rule;
    ev.mono_ns = t;
    ev.pkt.netns = kNs;
    ev.pf = 2;
    ev.table = "filter";
    ev.chain = "INPUT";
    ev.rulenum = num;
    ev.rule_kind = RuleKind::Rule;
    return ev;
}

}  // namespace

TEST(UntrustedEnricher, KernelsRule2IsNeverShownAsThePhantom) {
    auto src = std::make_unique<ScriptedSource>();
    ScriptedSource* s = src.get();
    s->text = std::string(kHead) + "-A INPUT -m comment --comment \"x\n-A INPUT -j DROP\" -j ACCEPT\n"
                                   "-A INPUT -p udp -j ACCEPT\nCOMMIT\n";
    s->fp.layout = filter_layout(2);
    Enricher enr(std::move(src));
    ASSERT_TRUE(enr.prime(kNs).ok());
    TraceEvent ev = hit(s->clock, 2);
    enr.enrich(ev);
    ASSERT_TRUE(ev.rule_text);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -p udp -j ACCEPT");  // not the comment's fake line
    EXPECT_TRUE(ev.rule_text_stale);  // and still shown as rule?=
    EXPECT_EQ(enr.stats().doubtful, 1u);
    bool said = false;
    for (const auto& d : enr.take_diagnostics()) said |= d.find("chain INPUT") != std::string::npos;
    EXPECT_TRUE(said);
}

TEST(UntrustedEnricher, RawNewlinePhantomIsMarkedByTheKernelCount) {
    auto src = std::make_unique<ScriptedSource>();
    ScriptedSource* s = src.get();
    s->text = std::string(kHead) + "-A INPUT -i x\n-A INPUT -j DROP -j ACCEPT\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n";
    s->fp.layout = filter_layout(2);
    Enricher enr(std::move(src));
    ASSERT_TRUE(enr.prime(kNs).ok());
    TraceEvent ev = hit(s->clock, 2);
    enr.enrich(ev);
    EXPECT_TRUE(ev.rule_text_stale);
    EXPECT_FALSE(ev.rule_text);  // "-A INPUT -j DROP -j ACCEPT" would be the phantom's
}

TEST(UntrustedEnricher, ARulesetChangingOnEveryBatchIsReReadAtMostOncePerInterval) {
    auto src = std::make_unique<ScriptedSource>();
    ScriptedSource* s = src.get();
    s->text = std::string(kHead) + "-A INPUT -j ACCEPT\nCOMMIT\n";
    EnricherOptions o;
    o.min_reread_interval = std::chrono::milliseconds(100);
    Enricher enr(std::move(src), o);
    ASSERT_TRUE(enr.prime(kNs).ok());
    ASSERT_EQ(s->saves, 1);
    // The owner changes the table before every batch; one batch every 10 ms
    // for 1 s (the fake clock moves 1 µs per reading besides).
    int stale = 0, certain = 0;
    for (int batch = 0; batch < 100; ++batch) {
        s->clock += 10000000;
        ++s->fp.hash;
        TraceEvent ev = hit(s->clock, 1);
        enr.enrich(ev);
        ASSERT_TRUE(ev.rule_text);
        EXPECT_EQ(*ev.rule_text, "-A INPUT -j ACCEPT");
        (ev.rule_text_stale ? stale : certain) += 1;
        enr.tick();
    }
    // 1 s at one re-read per 100 ms: about 10, never one per batch.
    EXPECT_LE(s->saves, 1 + 11);
    EXPECT_GE(s->saves, 1 + 5);
    EXPECT_GT(enr.stats().deferred, 0u);
    // Events while a read was put off are marked, not trusted.
    EXPECT_GT(stale, 50);
    // Without the limit every batch re-reads.
    auto src2 = std::make_unique<ScriptedSource>();
    ScriptedSource* s2 = src2.get();
    s2->text = s->text;
    EnricherOptions unlimited;
    unlimited.min_reread_interval = std::chrono::nanoseconds(0);
    Enricher enr2(std::move(src2), unlimited);
    ASSERT_TRUE(enr2.prime(kNs).ok());
    for (int batch = 0; batch < 100; ++batch) {
        s2->clock += 10000000;
        ++s2->fp.hash;
        TraceEvent ev = hit(s2->clock, 1);
        enr2.enrich(ev);
    }
    EXPECT_GE(s2->saves, 100);
}

TEST(UntrustedEnricher, AfterTheChangesStopTheTextIsCertainAgain) {
    auto src = std::make_unique<ScriptedSource>();
    ScriptedSource* s = src.get();
    s->text = std::string(kHead) + "-A INPUT -j ACCEPT\nCOMMIT\n";
    EnricherOptions o;
    o.min_reread_interval = std::chrono::milliseconds(100);
    Enricher enr(std::move(src), o);
    ASSERT_TRUE(enr.prime(kNs).ok());
    s->fp.hash = 2;  // first change: read at once (the limiter has no read yet)
    s->clock += 1000000;
    TraceEvent a = hit(s->clock, 1);
    enr.enrich(a);
    EXPECT_FALSE(a.rule_text_stale);
    s->fp.hash = 3;  // second change 1 ms later: put off
    s->text = std::string(kHead) + "-A INPUT -j DROP\nCOMMIT\n";
    s->clock += 1000000;
    TraceEvent b = hit(s->clock, 1);
    enr.enrich(b);
    EXPECT_TRUE(b.rule_text_stale);
    EXPECT_EQ(*b.rule_text, "-A INPUT -j ACCEPT");  // the last text read, marked
    // Past the interval the background check reads it; later events are certain.
    s->clock += 300000000;
    enr.tick();
    TraceEvent c = hit(s->clock, 1);
    enr.enrich(c);
    EXPECT_FALSE(c.rule_text_stale);
    EXPECT_EQ(*c.rule_text, "-A INPUT -j DROP");
}
