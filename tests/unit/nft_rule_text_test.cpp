// NftRuleText: per-netns, per-generation caching of nft rule numbers and
// text, with a fake source whose clock and ruleset the test moves.
#include <gtest/gtest.h>

#include <map>

#include "iptables_trace/nft_rules.hpp"

using namespace itr;
using namespace itr::nft;

namespace {

// An iptables-nft filter table whose INPUT chain holds `rules` (handle, -A text).
NftSnapshot filter_snapshot(uint32_t gen, const std::vector<std::pair<uint64_t, std::string>>& rules) {
    NftSnapshot s;
    s.generation = gen;
    s.listing = "table ip filter { # handle 1\n\tchain INPUT { # handle 1\n"
                "\t\ttype filter hook input priority filter; policy accept;\n";
    std::string save = "*filter\n:INPUT ACCEPT [0:0]\n";
    for (const auto& [h, text] : rules) {
        s.listing += "\t\tcounter # handle " + std::to_string(h) + "\n";
        s.order.add({2, "filter", "INPUT", h, std::nullopt});
        save += text + "\n";
    }
    s.listing += "\t}\n}\n";
    s.ipt4.text = save + "COMMIT\n";
    return s;
}

struct FakeState {
    uint64_t now = 1000;
    std::map<uint32_t, uint32_t> gen;                  // netns -> current generation
    std::map<std::pair<uint32_t, uint32_t>, NftSnapshot> snaps;  // (netns, gen) -> snapshot
    bool fail = false;
    int checks = 0, reads = 0;
    uint32_t read_moves_to = 0;  // non-zero: the generation moves to this during the read
};

class FakeSource : public NftRulesetSource {
public:
    explicit FakeSource(FakeState& s) : s_(s) {}
    uint64_t now_ns() override { return s_.now++; }
    uint32_t own_netns() override { return 1; }
    Result<uint32_t> generation(uint32_t netns) override {
        ++s_.checks;
        if (s_.fail) return Error{"netns gone", ""};
        return s_.gen.at(netns);
    }
    Result<NftSnapshot> read(uint32_t netns) override {
        ++s_.reads;
        if (s_.fail) return Error{"netns gone", ""};
        if (s_.read_moves_to) {
            s_.gen[netns] = s_.read_moves_to;
            s_.read_moves_to = 0;
        }
        return s_.snaps.at({netns, s_.gen.at(netns)});
    }

private:
    FakeState& s_;
};

TraceRecord rule_hit(uint64_t handle) {
    TraceRecord r;
    r.msg.family = 2;
    r.msg.table = "filter";
    r.msg.chain = "INPUT";
    r.msg.kind = HitKind::Rule;
    r.msg.handle = handle;
    return r;
}

struct Fixture {
    FakeState st;
    std::unique_ptr<NftRuleText> text;
    explicit Fixture(NftRuleTextOptions o = {}) {
        st.gen[1] = 10;
        st.snaps[{1, 10}] = filter_snapshot(10, {{2, "-A INPUT -s 10.0.0.1/32 -j DROP"}});
        // Generation 11: a rule inserted in front of handle 2.
        st.snaps[{1, 11}] = filter_snapshot(11, {{3, "-A INPUT -p udp -j ACCEPT"}, {2, "-A INPUT -s 10.0.0.1/32 -j DROP"}});
        text = std::make_unique<NftRuleText>(std::make_unique<FakeSource>(st), o);
    }
    TraceRecord look(uint64_t handle, uint64_t t, uint32_t netns = 1) {
        TraceRecord r = rule_hit(handle);
        text->lookup(r, netns, t);
        return r;
    }
};

}  // namespace

TEST(NftRuleText, ReadsOnceAndConfirmsWithAGenerationCheck) {
    Fixture f;
    ASSERT_TRUE(f.text->prime(1).ok());
    EXPECT_EQ(f.st.reads, 1);
    TraceRecord r = f.look(2, f.st.now);
    EXPECT_EQ(r.rulenum, 1u);
    EXPECT_EQ(r.rule_text, "-A INPUT -s 10.0.0.1/32 -j DROP");
    EXPECT_FALSE(r.rule_text_stale);
    EXPECT_EQ(f.st.reads, 1);  // same generation: checked, not read again
    const int checks = f.st.checks;
    // An event stamped before the last confirmation needs no check.
    TraceRecord old = f.look(2, 1001);
    EXPECT_EQ(old.rulenum, 1u);
    EXPECT_FALSE(old.rule_text_stale);
    EXPECT_EQ(f.st.checks, checks);
    EXPECT_EQ(f.text->stats().reads, 1u);
}

TEST(NftRuleText, ANewGenerationShiftsTheNumberAndEventsInTheGapAreStale) {
    Fixture f;
    ASSERT_TRUE(f.text->prime(1).ok());
    const uint64_t confirmed = f.st.now;
    f.look(2, confirmed);  // confirms generation 10 up to now
    const uint64_t before_change = f.st.now++;
    f.st.gen[1] = 11;
    const uint64_t in_gap = f.st.now++;
    TraceRecord after = f.look(2, f.st.now + 5);  // stamped after the change: read 11
    EXPECT_EQ(after.rulenum, 2u);
    EXPECT_FALSE(after.rule_text_stale);
    EXPECT_EQ(f.text->stats().changes, 1u);
    // Between the last confirmation of 10 and the first sight of 11 the two
    // generations disagree on the number: the newer answer, marked.
    TraceRecord gap = f.look(2, in_gap);
    EXPECT_EQ(gap.rulenum, 2u);
    EXPECT_TRUE(gap.rule_text_stale);
    // The inserted rule exists only in 11, and 11 follows 10: a packet that
    // hit it was under 11.
    TraceRecord only_new = f.look(3, in_gap);
    EXPECT_EQ(only_new.rulenum, 1u);
    EXPECT_EQ(only_new.rule_text, "-A INPUT -p udp -j ACCEPT");
    EXPECT_FALSE(only_new.rule_text_stale);
    // Well inside generation 10's interval: 10's answer, certain.
    TraceRecord early = f.look(2, before_change - 2);
    EXPECT_EQ(early.rulenum, 1u);
    EXPECT_FALSE(early.rule_text_stale);
}

TEST(NftRuleText, AGapOverGenerationsWeNeverSawIsStaleEvenWhenTheyAgree) {
    Fixture f;
    f.st.snaps[{1, 13}] = filter_snapshot(13, {{3, "-A INPUT -p udp -j ACCEPT"}, {2, "-A INPUT -s 10.0.0.1/32 -j DROP"}});
    ASSERT_TRUE(f.text->prime(1).ok());
    f.look(2, f.st.now);
    const uint64_t in_gap = f.st.now++;
    f.st.gen[1] = 13;  // 11 and 12 came and went unseen
    f.look(2, f.st.now + 5);
    TraceRecord r = f.look(3, in_gap);
    EXPECT_EQ(r.rulenum, 1u);
    EXPECT_TRUE(r.rule_text_stale);
}

TEST(NftRuleText, PolicyAndReturnAgreeAcrossGenerations) {
    Fixture f;
    ASSERT_TRUE(f.text->prime(1).ok());
    f.look(2, f.st.now);
    const uint64_t in_gap = f.st.now++;
    f.st.gen[1] = 11;
    f.look(2, f.st.now + 5);
    TraceRecord pol = rule_hit(0);
    pol.msg.kind = HitKind::Policy;
    pol.msg.handle.reset();
    pol.msg.policy = 1;
    f.text->lookup(pol, 1, in_gap);
    EXPECT_EQ(pol.rule_text, "policy ACCEPT");
    EXPECT_FALSE(pol.rulenum);
    EXPECT_FALSE(pol.rule_text_stale);
}

TEST(NftRuleText, AReadThatSeesALaterGenerationIsNotBackdated) {
    Fixture f;
    f.st.read_moves_to = 11;  // the ruleset changes between the check and the read
    TraceRecord r = f.look(2, 1000);
    EXPECT_EQ(r.rulenum, 2u);           // from 11, the only version held
    EXPECT_FALSE(r.rule_text_stale);    // older than anything held, nothing trimmed: first read
    TraceRecord later = f.look(2, f.st.now + 10);
    EXPECT_EQ(later.rulenum, 2u);
    EXPECT_FALSE(later.rule_text_stale);
}

TEST(NftRuleText, UnknownHandleAndFailuresAreMarkedNotGuessed) {
    Fixture f;
    ASSERT_TRUE(f.text->prime(1).ok());
    TraceRecord gone = f.look(99, f.st.now);
    EXPECT_FALSE(gone.rulenum);
    EXPECT_FALSE(gone.rule_text);
    EXPECT_TRUE(gone.rule_text_stale);

    f.st.fail = true;
    TraceRecord r = f.look(2, f.st.now + 10);
    EXPECT_EQ(r.rulenum, 1u);  // the last generation we read ...
    EXPECT_TRUE(r.rule_text_stale);  // ... but it could not be confirmed
    auto d = f.text->take_diagnostics();
    ASSERT_EQ(d.size(), 1u);
    EXPECT_NE(d[0].find("netns gone"), std::string::npos);
    // Not asked again before retry_after.
    const int checks = f.st.checks;
    f.look(2, f.st.now + 10);
    EXPECT_EQ(f.st.checks, checks);
    EXPECT_TRUE(f.text->take_diagnostics().empty());  // said once

    FakeState none;
    none.fail = true;
    NftRuleText t(std::make_unique<FakeSource>(none));
    EXPECT_FALSE(t.prime(5).ok());
    TraceRecord n = rule_hit(2);
    t.lookup(n, 5, 0);
    EXPECT_FALSE(n.rulenum);
    EXPECT_TRUE(n.rule_text_stale);
}

TEST(NftRuleText, RateLimitedChecksStillCheckForAnEventThatDoesNotFit) {
    NftRuleTextOptions o;
    o.min_check_interval = std::chrono::seconds(10);
    Fixture f(o);
    ASSERT_TRUE(f.text->prime(1).ok());
    const int checks = f.st.checks;
    f.st.gen[1] = 11;
    TraceRecord known = f.look(2, f.st.now + 5);  // inside the interval: unconfirmed answer from 10
    EXPECT_EQ(f.st.checks, checks);
    EXPECT_EQ(known.rulenum, 1u);
    TraceRecord fresh = f.look(3, f.st.now + 5);  // 10 has no handle 3: check now
    EXPECT_EQ(f.st.checks, checks + 1);
    EXPECT_EQ(fresh.rulenum, 1u);
    EXPECT_EQ(fresh.rule_text, "-A INPUT -p udp -j ACCEPT");
}

TEST(NftRuleText, NetnsAreKeptApartAndBounded) {
    NftRuleTextOptions o;
    o.max_netns = 2;
    Fixture f(o);
    for (uint32_t ns : {2u, 3u}) {
        f.st.gen[ns] = 11;
        f.st.snaps[{ns, 11}] = f.st.snaps[{1, 11}];
    }
    EXPECT_EQ(f.look(2, 0, 1).rulenum, 1u);
    EXPECT_EQ(f.look(2, 0, 2).rulenum, 2u);
    EXPECT_EQ(f.look(2, 0, 3).rulenum, 2u);  // drops netns 1
    EXPECT_EQ(f.st.reads, 3);
    EXPECT_EQ(f.look(2, 0, 1).rulenum, 1u);  // read again
    EXPECT_EQ(f.st.reads, 4);
}

TEST(NftRuleText, AGenerationMovingOnEveryBatchIsReReadAtMostOncePerInterval) {
    NftRuleTextOptions o;
    o.min_reread_interval = std::chrono::milliseconds(100);
    Fixture f(o);
    ASSERT_TRUE(f.text->prime(1).ok());
    ASSERT_EQ(f.st.reads, 1);
    // The owner commits before every batch (generations 10, 11, 10', ...: the
    // fake serves the two snapshots in turn); one batch per 10 ms for 1 s.
    int stale = 0;
    for (int batch = 0; batch < 100; ++batch) {
        f.st.now += 10000000;
        const uint32_t g = 12 + uint32_t(batch);
        f.st.snaps[{1, g}] = filter_snapshot(g, {{2, "-A INPUT -s 10.0.0.1/32 -j DROP"}});
        f.st.gen[1] = g;
        TraceRecord r = f.look(2, f.st.now);
        EXPECT_EQ(r.rulenum, 1u);
        stale += r.rule_text_stale;
    }
    EXPECT_GE(f.st.reads, 1 + 5);
    EXPECT_LE(f.st.reads, 1 + 11);
    EXPECT_GT(f.text->stats().deferred, 0u);
    EXPECT_GT(stale, 50);  // answers while a read was put off are marked
}

// iptables-nft-save prints interface and set names raw. With raw quotes to
// keep every line's quotes paired, a comment holding "\n-A INPUT ..." adds a
// rule line and one holding "\nCOMMIT\n*filter..." moves the chain's last
// rule into another table: the count matches the kernel's, yet rules 4 and 5
// would get the wrong text. The parse doubts both: the chain gets nft text.
TEST(NftRuleIndexUntrusted, CountPreservingFakeLinesDoNotGetIptablesText) {
    NftSnapshot s = filter_snapshot(
        7, {{2, "-A INPUT -p tcp -j ACCEPT"},
            {3, "-A INPUT -p udp -j ACCEPT"},
            {4, "-A INPUT -i c\" -m comment --comment \"y\n-A INPUT -j FAKE\" -m set --match-set q\" src -j ACCEPT"},
            {5, "-A INPUT -i d\" -m comment --comment \"z\nCOMMIT\n*filter\" -j ACCEPT"},
            {6, "-A INPUT -p icmp -j ACCEPT"}});
    auto listing = parse_nft_listing(s.listing);
    ASSERT_TRUE(listing.ok());
    RuleIndex idx = build_rule_index(*listing, &s.order, s.ipt4, s.ipt6, s.generation);
    for (uint64_t h = 2; h <= 6; ++h) {
        TraceMessage m;
        m.family = 2;
        m.table = "filter";
        m.chain = "INPUT";
        m.kind = HitKind::Rule;
        m.handle = h;
        RuleAnswer a = lookup_rule(idx, m);
        ASSERT_EQ(a.status, AnswerStatus::Ok) << h;
        EXPECT_EQ(a.rulenum, uint32_t(h - 1));
        EXPECT_EQ(a.syntax, TextSyntax::Nft) << h << ": " << a.text.value_or("");
        EXPECT_EQ(a.text, "counter") << h;
    }
}
