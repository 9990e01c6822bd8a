// The Enricher's change detection and staleness rule, against a fake source.
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "iptables_trace/enricher.hpp"

using namespace itr;

namespace {

struct FakeTable {
    Fingerprint fp;
    std::string text;
};

// A scripted ruleset source with a clock that moves 10 ns per reading.
class FakeSource : public RulesetSource {
public:
    uint64_t clock = 1000;
    uint32_t own = 4026531840u;
    std::map<std::tuple<uint32_t, Family, std::string>, FakeTable> tables;
    std::map<uint32_t, std::string> gone;  // netns -> error
    int fingerprints = 0, saves = 0, lists = 0;
    std::function<void()> during_save;  // runs inside save(), before returning

    uint64_t now_ns() override { return clock += 10; }
    uint32_t own_netns() override { return own; }
    Result<Fingerprint> fingerprint(uint32_t netns, Family f, const std::string& table) override {
        ++fingerprints;
        if (gone.count(netns)) return Error{gone[netns], ""};
        auto it = tables.find({netns, f, table});
        return it == tables.end() ? Fingerprint{} : it->second.fp;
    }
    Result<std::vector<std::string>> list_tables(uint32_t netns, Family f) override {
        ++lists;
        if (gone.count(netns)) return Error{gone[netns], ""};
        std::vector<std::string> out;
        for (auto& [k, v] : tables)
            if (std::get<0>(k) == netns && std::get<1>(k) == f) out.push_back(std::get<2>(k));
        return out;
    }
    Result<std::string> save(uint32_t netns, Family f, const std::string& table) override {
        ++saves;
        if (gone.count(netns)) return Error{gone[netns], ""};
        auto it = tables.find({netns, f, table});
        std::string text = it == tables.end() ? "" : it->second.text;
        if (during_save) {
            auto fn = std::move(during_save);
            during_save = nullptr;
            fn();
        }
        return text;
    }
    void set(uint32_t netns, Family f, const std::string& table, uint64_t hash, std::string text) {
        tables[{netns, f, table}] = FakeTable{Fingerprint{true, hash, std::nullopt}, std::move(text)};
    }
};

constexpr uint32_t kNs = 4026532000u;

std::string filter_v1() {
    return "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:USR - [0:0]\n"
           "-A INPUT -s 10.0.0.0/8 -j USR\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
           "-A USR -m comment --comment \"x\ny\" -j DROP\nCOMMIT\n";
}
// v1 with a rule inserted at the top of INPUT.
std::string filter_v2() {
    return "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:USR - [0:0]\n"
           "-A INPUT -i lo -j ACCEPT\n-A INPUT -s 10.0.0.0/8 -j USR\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
           "-A USR -m comment --comment \"x\ny\" -j DROP\nCOMMIT\n";
}
// v1 with a rule appended at the end of INPUT.
std::string filter_v3() {
    return "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:USR - [0:0]\n"
           "-A INPUT -s 10.0.0.0/8 -j USR\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -j LOG\n"
           "-A USR -m comment --comment \"x\ny\" -j DROP\nCOMMIT\n";
}

TraceEvent rule_ev(uint64_t t, std::string chain, uint32_t num, RuleKind kind, uint32_t pf = 2,
                   std::optional<uint32_t> netns = kNs) {
    TraceEvent ev;
    ev.kind = EventKind::Rule;
    ev.mono_ns = t;
    ev.pkt.netns = netns;
    ev.pf = pf;
    ev.table = "filter";
    ev.chain = std::move(chain);
    ev.rulenum = num;
    ev.rule_kind = kind;
    return ev;
}

struct EnricherFake : ::testing::Test {
    EnricherFake() {
        auto s = std::make_unique<FakeSource>();
        src = s.get();
        src->set(kNs, Family::Ipv4, "filter", 1, filter_v1());
        enr = std::make_unique<Enricher>(std::move(s));
    }
    // An event stamped just before "now", as a freshly delivered one is.
    TraceEvent fresh(std::string chain, uint32_t num, RuleKind kind) {
        return rule_ev(src->clock - 5, std::move(chain), num, kind);
    }
    FakeSource* src;
    std::unique_ptr<Enricher> enr;
};

}  // namespace

TEST_F(EnricherFake, FillsRuleTextPolicyAndReturn) {
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -s 10.0.0.0/8 -j USR");
    EXPECT_FALSE(ev.rule_text_stale);
    ev = fresh("INPUT", 3, RuleKind::Policy);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "policy DROP");
    EXPECT_EQ(ev.rule_kind, RuleKind::Policy);
    ev = fresh("USR", 2, RuleKind::Return);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "return");
    // Escaped: the comment's newline is printed as \n.
    ev = fresh("USR", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, R"(-A USR -m comment --comment "x\ny" -j DROP)");
    EXPECT_FALSE(ev.rule_text_stale);
    EXPECT_EQ(enr->stats().reads, 1u);
}

TEST_F(EnricherFake, IgnoresOtherEvents) {
    TraceEvent t = fresh("INPUT", 1, RuleKind::Rule);
    t.kind = EventKind::Table;
    enr->enrich(t);
    EXPECT_FALSE(t.rule_text);
    TraceEvent arp = fresh("INPUT", 1, RuleKind::Rule);
    arp.pf = 3;
    enr->enrich(arp);
    EXPECT_FALSE(arp.rule_text);
    EXPECT_EQ(src->fingerprints, 0);
}

TEST_F(EnricherFake, NoCheckForEventsAlreadyCovered) {
    // A batch of events stamped before the first check: one check, one read.
    uint64_t t0 = src->clock;
    for (int i = 0; i < 50; ++i) {
        auto ev = rule_ev(t0 - 50 + uint64_t(i), "INPUT", 2, RuleKind::Rule);
        enr->enrich(ev);
        EXPECT_EQ(*ev.rule_text, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT");
    }
    EXPECT_EQ(src->saves, 1);
    EXPECT_EQ(enr->stats().checks, 2u);  // the check and the read's confirming check
    // A newer event needs one fingerprint check, not a read.
    auto ev = fresh("INPUT", 2, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(src->saves, 1);
    EXPECT_EQ(enr->stats().checks, 3u);
}

TEST_F(EnricherFake, RuleInsertedWhileTracingIsSeen) {
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -s 10.0.0.0/8 -j USR");
    src->clock += 1'000'000'000;
    src->set(kNs, Family::Ipv4, "filter", 2, filter_v2());
    // The event loop ticks while no packet comes: the change is found then.
    enr->tick();
    EXPECT_EQ(enr->stats().changes, 1u);
    src->clock += 1'000'000;
    ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -i lo -j ACCEPT");
    EXPECT_FALSE(ev.rule_text_stale);
    EXPECT_EQ(src->saves, 2);
    // A tick soon after the last check does nothing.
    int fps = src->fingerprints;
    enr->tick();
    EXPECT_EQ(src->fingerprints, fps);
}

TEST_F(EnricherFake, WithoutTicksTheDiscoveringEventIsStaleThenCertain) {
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    src->clock += 1'000'000'000;
    src->set(kNs, Family::Ipv4, "filter", 2, filter_v2());
    // Stamped before the check it triggers finds the change: could be
    // either ruleset, and rule 1 differs between them.
    ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -i lo -j ACCEPT");
    EXPECT_TRUE(ev.rule_text_stale);
    ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -i lo -j ACCEPT");
    EXPECT_FALSE(ev.rule_text_stale);
}

TEST_F(EnricherFake, LateEventFromBeforeTheChangeGetsTheOldText) {
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    uint64_t in_v1 = src->clock + 500;
    src->clock += 1000;
    ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);  // confirms v1 up to now: in_v1 is inside its interval
    src->clock += 1000;
    src->set(kNs, Family::Ipv4, "filter", 2, filter_v2());
    ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);  // detects the change
    // An event from another CPU, stamped while v1 was certainly in force,
    // delivered only now: answered from v1, not from the current ruleset.
    auto late = rule_ev(in_v1, "INPUT", 1, RuleKind::Rule);
    enr->enrich(late);
    EXPECT_EQ(*late.rule_text, "-A INPUT -s 10.0.0.0/8 -j USR");
    EXPECT_FALSE(late.rule_text_stale);
}

TEST_F(EnricherFake, EventInTheChangeGapIsMarkedStale) {
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    uint64_t gap_start = src->clock + 10;
    src->clock += 1000;
    src->set(kNs, Family::Ipv4, "filter", 2, filter_v2());
    enr->tick();
    // Stamped after v1's last confirmation and before v2 was first seen:
    // rule 1 differs between them, so the answer cannot be trusted.
    auto gap = rule_ev(gap_start + 100, "INPUT", 1, RuleKind::Rule);
    enr->enrich(gap);
    ASSERT_TRUE(gap.rule_text);
    EXPECT_EQ(*gap.rule_text, "-A INPUT -i lo -j ACCEPT");  // the newest fitting version
    EXPECT_TRUE(gap.rule_text_stale);
    EXPECT_EQ(enr->stats().stale, 1u);

    // Where both versions agree, the gap does not matter: v1 rule 1 is
    // v2 rule 2 ... but numbers differ, so use the user chain, unchanged.
    auto same = rule_ev(gap_start + 100, "USR", 1, RuleKind::Rule);
    enr->enrich(same);
    EXPECT_FALSE(same.rule_text_stale);

    // The event itself can rule a version out: a policy hit numbered 3 fits
    // v1 (2 rules) and not v2 (3 rules, policy would be 4).
    auto pol = rule_ev(gap_start + 100, "INPUT", 3, RuleKind::Policy);
    enr->enrich(pol);
    // v2 reads 3 as its rule 3 (an unconditional-rule report), v1 as the
    // policy: both fit, they disagree: stale.
    EXPECT_TRUE(pol.rule_text_stale);
    auto pol4 = rule_ev(gap_start + 100, "INPUT", 4, RuleKind::Policy);
    enr->enrich(pol4);  // only v2 fits (v1 would be inconsistent)
    EXPECT_EQ(*pol4.rule_text, "policy DROP");
    EXPECT_FALSE(pol4.rule_text_stale);
}

TEST_F(EnricherFake, AppendedRuleDoesNotMakeEarlierRulesStale) {
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    uint64_t gap_start = src->clock + 10;
    src->clock += 1000;
    src->set(kNs, Family::Ipv4, "filter", 3, filter_v3());
    enr->tick();
    ev = fresh("INPUT", 3, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -j LOG");
    auto gap = rule_ev(gap_start + 100, "INPUT", 2, RuleKind::Rule);
    enr->enrich(gap);
    EXPECT_EQ(*gap.rule_text, "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT");
    EXPECT_FALSE(gap.rule_text_stale);
    // Rule 3 exists only in v3: the gap event can only come from it.
    auto gap3 = rule_ev(gap_start + 100, "INPUT", 3, RuleKind::Rule);
    enr->enrich(gap3);
    EXPECT_FALSE(gap3.rule_text_stale);
}

TEST_F(EnricherFake, ChangeDuringReadIsReadAgain) {
    src->during_save = [this] { src->set(kNs, Family::Ipv4, "filter", 2, filter_v2()); };
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    uint64_t t = ev.mono_ns;
    enr->enrich(ev);
    EXPECT_EQ(src->saves, 2);
    // The first text went with fingerprint 1 but the table was 2 by the end
    // of the read: only v2 is kept. The event predates it and v2 is the
    // first version ever seen, so it is answered from v2 when it fits.
    EXPECT_EQ(*ev.rule_text, "-A INPUT -i lo -j ACCEPT");
    (void)t;
    auto now = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(now);
    EXPECT_EQ(*now.rule_text, "-A INPUT -i lo -j ACCEPT");
    EXPECT_FALSE(now.rule_text_stale);
}

TEST_F(EnricherFake, NetnsGoneGivesNoTextAndOneDiagnostic) {
    src->gone[kNs] = "network namespace 4026532000 not found";
    for (int i = 0; i < 5; ++i) {
        auto ev = fresh("INPUT", 1, RuleKind::Rule);
        enr->enrich(ev);
        EXPECT_FALSE(ev.rule_text);
    }
    EXPECT_EQ(src->fingerprints, 1);  // no retry before retry_after
    auto d = enr->take_diagnostics();
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].find("not found"), std::string::npos);
    EXPECT_NE(d[0].find("4026532000"), std::string::npos);
    EXPECT_TRUE(enr->take_diagnostics().empty());
}

TEST_F(EnricherFake, FailureAfterAReadMarksAnswersStale) {
    auto ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    src->gone[kNs] = "network namespace 4026532000 not found";
    ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -s 10.0.0.0/8 -j USR");
    EXPECT_TRUE(ev.rule_text_stale);
    // It comes back: after retry_after the next check succeeds.
    src->gone.clear();
    src->clock += 3'000'000'000ull;
    ev = fresh("INPUT", 1, RuleKind::Rule);
    enr->enrich(ev);
    EXPECT_FALSE(ev.rule_text_stale);
}

TEST(Enricher, RateLimitedChecksAndForcedCheckOnMisfit) {
    auto s = std::make_unique<FakeSource>();
    FakeSource* src = s.get();
    src->set(kNs, Family::Ipv4, "filter", 1, filter_v1());
    EnricherOptions o;
    o.min_check_interval = std::chrono::milliseconds(10);
    Enricher enr(std::move(s), o);
    auto ev = rule_ev(src->clock - 5, "INPUT", 1, RuleKind::Rule);
    enr.enrich(ev);
    int fps = src->fingerprints;
    for (int i = 0; i < 10; ++i) {
        auto e = rule_ev(src->clock - 5, "INPUT", 2, RuleKind::Rule);
        enr.enrich(e);
        EXPECT_FALSE(e.rule_text_stale);
    }
    EXPECT_EQ(src->fingerprints, fps);  // inside the interval: no checks
    // A rule is inserted; an event that does not fit v1 forces a check.
    src->set(kNs, Family::Ipv4, "filter", 2, filter_v2());
    auto e = rule_ev(src->clock - 5, "INPUT", 4, RuleKind::Policy);
    enr.enrich(e);
    EXPECT_EQ(*e.rule_text, "policy DROP");
    EXPECT_FALSE(e.rule_text_stale);
    EXPECT_EQ(enr.stats().changes, 1u);
}

TEST(Enricher, KindCorrectionAndOwnNetnsDefault) {
    auto s = std::make_unique<FakeSource>();
    FakeSource* src = s.get();
    src->set(src->own, Family::Ipv6, "filter", 7,
             "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s fe80::/10 -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n");
    Enricher enr(std::move(s));
    auto ev = rule_ev(src->clock - 5, "INPUT", 2, RuleKind::Policy, 10, std::nullopt);
    enr.enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A INPUT -j DROP");
    EXPECT_EQ(ev.rule_kind, RuleKind::Rule);  // the kernel said "policy"
    auto un = rule_ev(src->clock - 5, "INPUT", 3, RuleKind::Unknown, 10, std::nullopt);
    enr.enrich(un);
    EXPECT_EQ(*un.rule_text, "policy ACCEPT");
    EXPECT_EQ(un.rule_kind, RuleKind::Policy);
    // IPv4 has no such table in that netns: no text, flagged.
    auto v4 = rule_ev(src->clock - 5, "INPUT", 1, RuleKind::Rule, 2, std::nullopt);
    enr.enrich(v4);
    EXPECT_FALSE(v4.rule_text);
}

TEST(Enricher, PrimeReadsEveryTableOnce) {
    auto s = std::make_unique<FakeSource>();
    FakeSource* src = s.get();
    src->set(kNs, Family::Ipv4, "filter", 1, filter_v1());
    src->set(kNs, Family::Ipv4, "nat", 5, "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n");
    src->set(kNs, Family::Ipv6, "filter", 6, "*filter\n:INPUT DROP [0:0]\nCOMMIT\n");
    Enricher enr(std::move(s));
    ASSERT_TRUE(enr.prime(kNs).ok());
    EXPECT_EQ(src->saves, 3);
    auto ev = rule_ev(src->clock - 5, "POSTROUTING", 1, RuleKind::Rule);
    ev.table = "nat";
    enr.enrich(ev);
    EXPECT_EQ(*ev.rule_text, "-A POSTROUTING -j MASQUERADE");
    auto v6 = rule_ev(src->clock - 5, "INPUT", 1, RuleKind::Policy, 10);
    enr.enrich(v6);
    EXPECT_EQ(*v6.rule_text, "policy DROP");
    EXPECT_EQ(src->saves, 3);
    src->gone[99] = "network namespace 99 not found";
    EXPECT_FALSE(enr.prime(99u).ok());
}

TEST(Enricher, OldVersionsDroppedMakeOlderEventsStale) {
    auto s = std::make_unique<FakeSource>();
    FakeSource* src = s.get();
    src->set(kNs, Family::Ipv4, "filter", 1, filter_v1());
    EnricherOptions o;
    o.max_versions = 2;
    Enricher enr(std::move(s), o);
    auto ev = rule_ev(src->clock - 5, "INPUT", 1, RuleKind::Rule);
    enr.enrich(ev);
    uint64_t in_v1 = src->clock - 1;
    const std::string texts[] = {filter_v2(), filter_v3(), filter_v1()};
    for (int i = 0; i < 3; ++i) {
        src->clock += 1000;
        src->set(kNs, Family::Ipv4, "filter", 10 + uint64_t(i), texts[i]);
        src->clock += 1'000'000'000;
        enr.tick();
        auto e = rule_ev(src->clock - 5, "INPUT", 1, RuleKind::Rule);
        enr.enrich(e);
        EXPECT_FALSE(e.rule_text_stale);
    }
    auto old = rule_ev(in_v1 - 50, "INPUT", 1, RuleKind::Rule);
    enr.enrich(old);
    EXPECT_TRUE(old.rule_text_stale);
}
