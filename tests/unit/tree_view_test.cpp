// The tree view (--tree) from synthetic event sequences: blocks compared
// byte for byte with tests/unit/data/tree/*.txt, and when each block comes
// out. To rewrite the golden files after an intended change of the output:
//   ITR_UPDATE_GOLDEN=1 build/tests/itr_unit_tests --gtest_filter='Tree*'
// then review them with git diff.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "iptables_trace/tree_view.hpp"

using namespace itr;

namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr uint64_t kMs = 1'000'000, kUs = 1'000;
constexpr int64_t kWallSec = 1700006400 + 9 * 3600 + 53 * 60 + 15;  // 2023-11-15 09:53:15 UTC
constexpr uint64_t kT0 = 5000 * kSec;                                // that second, in CLOCK_MONOTONIC
constexpr uint32_t PRE = 0, INPUT = 1, OUTPUT = 3, POST = 4;
constexpr uint32_t DROP = 0, ACCEPT = 1;
constexpr uint32_t kNetns = 4026531840u;

TreeOptions base_opts() {
    TreeOptions o;
    o.sink.realtime_offset_ns = kWallSec * kSec - static_cast<int64_t>(kT0);
    o.sink.utc_offset_s = 0;
    return o;
}

void set_addrs(Packet& p, const char* src, const char* dst) {
    p.ip_version = 4;
    inet_pton(AF_INET, src, p.saddr.data());
    inet_pton(AF_INET, dst, p.daddr.data());
}

Packet base_pkt(uint64_t skb, std::optional<uint32_t> cpu) {
    Packet p;
    p.skb = skb;
    p.netns = kNetns;
    p.cpu = cpu;
    p.pid = 0;
    p.ifname = "eth0";
    p.dst_mac = std::array<uint8_t, 6>{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    return p;
}

Packet icmp(uint64_t skb, const char* src, const char* dst, uint16_t seq, std::optional<uint32_t> cpu = 0) {
    Packet p = base_pkt(skb, cpu);
    set_addrs(p, src, dst);
    p.l4proto = 1;
    p.ip_len = 84;
    p.has_icmp = true;
    p.icmp_type = 8;
    p.icmp_id = 0x1234;
    p.icmp_seq = seq;
    return p;
}

Packet tcp(uint64_t skb, const char* src, uint16_t sport, const char* dst, uint16_t dport, uint8_t flags,
           std::optional<uint32_t> cpu = 0) {
    Packet p = base_pkt(skb, cpu);
    set_addrs(p, src, dst);
    p.l4proto = 6;
    p.ip_len = flags & 0x04 ? 40 : 60;
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = flags;
    return p;
}

Packet udp(uint64_t skb, const char* src, uint16_t sport, const char* dst, uint16_t dport,
           std::optional<uint32_t> cpu = 0) {
    Packet p = base_pkt(skb, cpu);
    set_addrs(p, src, dst);
    p.l4proto = 17;
    p.ip_len = 32;
    p.sport = sport;
    p.dport = dport;
    return p;
}

TraceEvent rule(const Packet& p, uint64_t t, std::string table, uint32_t hook, std::string chain, uint32_t num,
                RuleKind kind, std::optional<std::string> text, uint32_t depth = 0) {
    TraceEvent ev;
    ev.kind = EventKind::Rule;
    ev.mono_ns = t;
    ev.pkt = p;
    ev.pf = 2;
    ev.hook = hook;
    ev.table = std::move(table);
    ev.chain = std::move(chain);
    (hook == OUTPUT || hook == POST ? ev.out_dev : ev.in_dev) = p.ifname;
    ev.rulenum = num;
    ev.rule_kind = kind;
    ev.rule_text = std::move(text);
    ev.depth = depth;
    return ev;
}

TraceEvent table(const Packet& p, uint64_t t, std::string name, uint32_t hook, uint32_t verdict, uint64_t cost,
                 uint32_t depth = 0) {
    TraceEvent ev;
    ev.kind = EventKind::Table;
    ev.mono_ns = t;
    ev.pkt = p;
    ev.pf = 2;
    ev.hook = hook;
    ev.table = std::move(name);
    ev.verdict = verdict;
    ev.cost_ns = cost;
    ev.depth = depth;
    return ev;
}

TraceEvent nft(const Packet& p, uint64_t t, uint32_t family, std::string name, std::string chain, uint32_t hook,
               uint32_t verdict, uint64_t cost) {
    TraceEvent ev = table(p, t, std::move(name), hook, verdict, cost);
    ev.kind = EventKind::Nft;
    ev.pf = family;
    ev.chain = std::move(chain);
    return ev;
}

std::string golden_path(const std::string& name) { return std::string(ITR_TEST_DATA_DIR) + "/tree/" + name + ".txt"; }

void expect_golden(const std::string& name, const std::string& got) {
    const std::string path = golden_path(name);
    if (const char* up = std::getenv("ITR_UPDATE_GOLDEN"); up && *up) {
        std::ofstream(path, std::ios::binary) << got;
        std::cout << "rewrote " << path << "\n";
    }
    std::ifstream f(path, std::ios::binary);
    ASSERT_TRUE(f) << path << " is missing (ITR_UPDATE_GOLDEN=1 writes it)";
    std::stringstream want;
    want << f.rdbuf();
    EXPECT_EQ(got, want.str()) << "golden " << path;
}

struct Harness {
    std::ostringstream out;
    TreeView view;
    explicit Harness(TreeOptions o = base_opts()) : view(out, o) {}
    void feed(const std::vector<TraceEvent>& evs) {
        for (const auto& ev : evs) view.event(ev);
    }
    std::string text() const { return out.str(); }
};

// Lines that start a block (the header is the only unindented line).
std::vector<std::string> headers(const std::string& text) {
    std::vector<std::string> h;
    std::istringstream ss(text);
    for (std::string l; std::getline(ss, l);)
        if (!l.empty() && l[0] != ' ') h.push_back(l);
    return h;
}

}  // namespace

TEST(TreeView, WantColour) {
    EXPECT_TRUE(want_colour(true, nullptr));
    EXPECT_TRUE(want_colour(true, ""));  // NO_COLOR= (empty) does not disable it
    EXPECT_FALSE(want_colour(true, "1"));
    EXPECT_FALSE(want_colour(true, "0"));  // any non-empty value disables it
    EXPECT_FALSE(want_colour(false, nullptr));
    EXPECT_FALSE(want_colour(false, ""));
}

TEST(TreeView, SimpleAcceptWaitsForTheDelay) {
    Harness h;
    const Packet p = icmp(0xffff8df50291d200, "10.0.0.1", "10.0.0.2", 7, 1);
    h.feed({rule(p, kT0 + 123 * kUs, "filter", INPUT, "INPUT", 2, RuleKind::Rule,
                 "-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT"),
            table(p, kT0 + 127 * kUs, "filter", INPUT, ACCEPT, 4211)});
    // Accepted: another table of INPUT may still come.
    EXPECT_EQ(h.text(), "");
    EXPECT_EQ(h.view.open_blocks(), 1u);
    h.view.tick(kT0 + 127 * kUs + 199 * kMs);
    EXPECT_EQ(h.text(), "");
    h.view.tick(kT0 + 127 * kUs + 200 * kMs);
    EXPECT_EQ(h.view.open_blocks(), 0u);
    expect_golden("simple_accept", h.text());
}

TEST(TreeView, UserChainReturnThenPolicyDrop) {
    Harness h;
    const Packet p = tcp(0xffff8df50291d300, "192.168.10.20", 40030, "192.168.10.1", 8080, 0x02);
    h.feed({rule(p, kT0 + 10 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -p tcp -j USR"),
            rule(p, kT0 + 11 * kUs, "filter", INPUT, "USR", 3, RuleKind::Return, "return"),
            rule(p, kT0 + 12 * kUs, "filter", INPUT, "INPUT", 4, RuleKind::Policy, "policy DROP")});
    EXPECT_EQ(h.text(), "");
    h.view.event(table(p, kT0 + 13 * kUs, "filter", INPUT, DROP, 3050));
    // A DROP ends the walk: printed at once, no tick needed.
    EXPECT_EQ(h.view.open_blocks(), 0u);
    expect_golden("return_policy_drop", h.text());
}

TEST(TreeView, DropInsideUserChainAfterPrerouting) {
    Harness h;
    const Packet p = tcp(0xffff8df50291d400, "192.168.99.7", 51000, "192.168.10.1", 22, 0x02);
    h.feed({rule(p, kT0 + 1 * kUs, "raw", PRE, "PREROUTING", 1, RuleKind::Policy, "policy ACCEPT"),
            table(p, kT0 + 2 * kUs, "raw", PRE, ACCEPT, 1320),
            rule(p, kT0 + 3 * kUs, "nat", PRE, "PREROUTING", 1, RuleKind::Policy, "policy ACCEPT"),
            table(p, kT0 + 4 * kUs, "nat", PRE, ACCEPT, 980)});
    EXPECT_EQ(h.text(), "");
    // The packet reaches INPUT: its PREROUTING walk is over.
    h.view.event(rule(p, kT0 + 9 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j LOG --log-prefix \"in \""));
    EXPECT_EQ(headers(h.text()).size(), 1u);
    h.feed({rule(p, kT0 + 10 * kUs, "filter", INPUT, "INPUT", 3, RuleKind::Rule,
                 "-A INPUT -p tcp -m tcp --dport 22 -j SSH_GUARD"),
            rule(p, kT0 + 11 * kUs, "filter", INPUT, "SSH_GUARD", 1, RuleKind::Rule,
                 "-A SSH_GUARD -s 192.168.99.0/24 -j DROP"),
            table(p, kT0 + 12 * kUs, "filter", INPUT, DROP, 9876)});
    EXPECT_EQ(headers(h.text()).size(), 2u);
    EXPECT_EQ(h.view.open_blocks(), 0u);
    expect_golden("drop_in_user_chain", h.text());
}

TEST(TreeView, RejectReplyWalksOutputInsideInput) {
    // A's INPUT call (depth 0) runs REJECT; the reset (skb B) walks OUTPUT
    // and POSTROUTING at depth 1 on the same CPU before A's call returns.
    Harness h;
    const Packet a = tcp(0xffff8df50291da00, "10.1.0.2", 41000, "10.1.0.1", 25, 0x02, 2);
    const Packet b = tcp(0xffff8df50291db00, "10.1.0.1", 25, "10.1.0.2", 41000, 0x14, 2);
    h.feed({rule(a, kT0 + 1 * kUs, "filter", INPUT, "INPUT", 5, RuleKind::Rule,
                 "-A INPUT -p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset"),
            rule(b, kT0 + 2 * kUs, "raw", OUTPUT, "OUTPUT", 1, RuleKind::Policy, "policy ACCEPT", 1),
            table(b, kT0 + 3 * kUs, "raw", OUTPUT, ACCEPT, 700, 1),
            rule(b, kT0 + 4 * kUs, "filter", OUTPUT, "OUTPUT", 2, RuleKind::Policy, "policy ACCEPT", 1),
            table(b, kT0 + 5 * kUs, "filter", OUTPUT, ACCEPT, 900, 1)});
    EXPECT_EQ(h.text(), "");
    h.view.event(rule(b, kT0 + 6 * kUs, "nat", POST, "POSTROUTING", 1, RuleKind::Policy, "policy ACCEPT", 1));
    EXPECT_EQ(headers(h.text()).size(), 1u);  // B left OUTPUT
    h.feed({table(b, kT0 + 7 * kUs, "nat", POST, ACCEPT, 400, 1),
            table(a, kT0 + 8 * kUs, "filter", INPUT, DROP, 15000)});
    // A's return on that CPU ends B's nested walk first, then A's DROP.
    const auto hs = headers(h.text());
    ASSERT_EQ(hs.size(), 3u);
    EXPECT_NE(hs[0].find("OUTPUT"), std::string::npos);
    EXPECT_NE(hs[1].find("POSTROUTING"), std::string::npos);
    EXPECT_NE(hs[2].find("INPUT"), std::string::npos);
    EXPECT_EQ(h.view.open_blocks(), 0u);
    expect_golden("reject_nested", h.text());
}

TEST(TreeView, InterleavedPacketsComeOutWholeAfterTheirOwnVerdict) {
    Harness h;
    const Packet a = icmp(0xffff8df50291e100, "10.0.0.1", "10.0.0.2", 1, 0);
    const Packet b = udp(0xffff8df50291e200, "10.0.0.3", 5353, "10.0.0.2", 53, 1);
    const Packet c = icmp(0xffff8df50291e300, "10.0.0.4", "10.0.0.2", 9, 0);
    h.feed({rule(a, kT0 + 1 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j USR"),
            rule(b, kT0 + 2 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j USR"),
            rule(a, kT0 + 3 * kUs, "filter", INPUT, "USR", 1, RuleKind::Rule, "-A USR -p icmp -j ACCEPT"),
            rule(b, kT0 + 4 * kUs, "filter", INPUT, "USR", 2, RuleKind::Rule, "-A USR -p udp -j DROP")});
    EXPECT_EQ(h.text(), "");
    h.view.event(table(b, kT0 + 5 * kUs, "filter", INPUT, DROP, 2000));
    const std::string after_b = h.text();
    ASSERT_EQ(headers(after_b).size(), 1u);
    EXPECT_NE(after_b.find("U:10.0.0.3:5353->10.0.0.2:53"), std::string::npos);
    EXPECT_EQ(after_b.find("icmp"), std::string::npos);  // none of A's lines
    h.view.event(table(a, kT0 + 6 * kUs, "filter", INPUT, ACCEPT, 2500));
    EXPECT_EQ(h.text(), after_b);  // accepted: A waits
    // Another walk on A's CPU: A's is over.
    h.view.event(rule(c, kT0 + 7 * kUs, "filter", INPUT, "INPUT", 2, RuleKind::Rule, "-A INPUT -s 10.0.0.4 -j ACCEPT"));
    EXPECT_EQ(headers(h.text()).size(), 2u);
    EXPECT_EQ(h.view.open_blocks(), 1u);
    h.view.finish();
    EXPECT_EQ(h.view.open_blocks(), 0u);
    expect_golden("interleaved", h.text());
}

TEST(TreeView, ReturnThatNeverComesIsPrintedByTick) {
    Harness h;
    const Packet p = icmp(0xffff8df50291e400, "10.0.0.9", "10.0.0.2", 3, 0);
    h.view.event(rule(p, kT0 + 1 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j USR"));
    h.view.tick(kT0 + 150 * kMs);
    EXPECT_EQ(h.text(), "");
    // The next event of the walk comes in a later batch (stamped long
    // before). The delay counts from the view's clock when it came, the
    // latest of the event stamps and ticks seen: 150 ms.
    h.view.event(rule(p, kT0 + 2 * kUs, "filter", INPUT, "USR", 1, RuleKind::Rule, "-A USR -j ACCEPT"));
    h.view.tick(kT0 + 250 * kMs);
    EXPECT_EQ(h.text(), "");
    h.view.tick(kT0 + 350 * kMs);
    expect_golden("no_return", h.text());
    EXPECT_NE(h.text().find("(no verdict seen)"), std::string::npos);
    EXPECT_EQ(h.view.open_blocks(), 0u);
}

TEST(TreeView, NetlinkRuleEventsOnly) {
    // No skb, no CPU, no table verdicts: packets told apart by what they
    // carry; a packet moving on closes its previous hook's block.
    Harness h;
    Packet p1 = icmp(0, "10.0.0.1", "10.0.0.2", 1, std::nullopt);
    Packet p2 = icmp(0, "10.0.0.1", "10.0.0.2", 2, std::nullopt);
    const Packet u = udp(0, "10.0.0.5", 4000, "10.0.0.2", 53, std::nullopt);
    h.feed({rule(p1, kT0 + 1 * kUs, "raw", PRE, "PREROUTING", 1, RuleKind::Policy, "policy ACCEPT"),
            rule(p2, kT0 + 2 * kUs, "raw", PRE, "PREROUTING", 1, RuleKind::Policy, "policy ACCEPT"),
            rule(p1, kT0 + 3 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -p icmp -j ACCEPT")});
    ASSERT_EQ(headers(h.text()).size(), 1u);  // p1 left PREROUTING
    EXPECT_NE(h.text().find("PREROUTING"), std::string::npos);
    // Two datagrams that look alike: the hook's own chain starting over
    // at rule 2 again is a new packet.
    h.feed({rule(u, kT0 + 4 * kUs, "filter", INPUT, "INPUT", 2, RuleKind::Rule, "-A INPUT -p udp -j ACCEPT"),
            rule(u, kT0 + 5 * kUs, "filter", INPUT, "INPUT", 2, RuleKind::Rule, "-A INPUT -p udp -j ACCEPT")});
    EXPECT_EQ(headers(h.text()).size(), 2u);
    h.view.tick(kT0 + 5 * kUs + 200 * kMs);
    EXPECT_EQ(h.view.open_blocks(), 0u);
    expect_golden("netlink", h.text());
}

TEST(TreeView, NftBaseChainsShareTheHookWithLegacyTables) {
    Harness h;
    const Packet p = udp(0xffff8df50291e500, "172.16.0.5", 5353, "172.16.0.9", 5353, 3);
    h.feed({nft(p, kT0 + 1 * kUs, 1, "fw", "input", INPUT, ACCEPT, 2100),  // inet family
            rule(p, kT0 + 2 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -p udp -j ACCEPT"),
            table(p, kT0 + 3 * kUs, "filter", INPUT, ACCEPT, 1500)});
    EXPECT_EQ(h.text(), "");
    h.view.event(nft(p, kT0 + 4 * kUs, 2, "late", "input", INPUT, DROP, 800));  // ip family, DROP
    EXPECT_EQ(headers(h.text()).size(), 1u);
    EXPECT_EQ(h.view.open_blocks(), 0u);
    expect_golden("nft", h.text());
}

TEST(TreeView, LostEventsMarkTheOpenBlocksOfThatCpu) {
    Harness h;
    const Packet a = icmp(0xffff8df50291e600, "10.0.0.1", "10.0.0.2", 1, 0);
    const Packet b = icmp(0xffff8df50291e700, "10.0.0.3", "10.0.0.2", 1, 1);
    h.feed({rule(a, kT0 + 1 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j USR"),
            rule(b, kT0 + 2 * kUs, "filter", INPUT, "INPUT", 3, RuleKind::Rule, "-A INPUT -j DROP")});
    h.view.lost(3, 0);
    EXPECT_EQ(h.text(), "");  // nothing of its own in the stream
    h.feed({table(a, kT0 + 5 * kUs, "filter", INPUT, DROP, 5000), table(b, kT0 + 6 * kUs, "filter", INPUT, DROP, 900)});
    EXPECT_EQ(h.view.lost_total(), 3u);
    h.view.lost(2, -1);  // not per CPU, nothing open: counted only
    EXPECT_EQ(h.view.lost_total(), 5u);
    expect_golden("lost", h.text());
    EXPECT_EQ(h.text().find("lost"), h.text().rfind("lost"));  // only A's block says it
}

TEST(TreeView, EntryForms) {
    // Stale text, no text, return and policy without text, an unconditional
    // rule the kernel reports as the policy, hostile names.
    Harness h;
    const Packet p = tcp(0xffff8df50291e800, "10.2.0.1", 1234, "10.2.0.2", 80, 0x18);
    TraceEvent stale = rule(p, kT0 + 1 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j web\tin");
    stale.rule_text_stale = true;
    h.feed({stale, rule(p, kT0 + 2 * kUs, "filter", INPUT, "web\tin", 4, RuleKind::Rule, std::nullopt),
            rule(p, kT0 + 3 * kUs, "filter", INPUT, "web\tin", 6, RuleKind::Return, std::nullopt),
            rule(p, kT0 + 4 * kUs, "filter", INPUT, "INPUT", 2, RuleKind::Policy, "-A INPUT -j ACCEPT"),
            table(p, kT0 + 5 * kUs, "filter", INPUT, ACCEPT, 1000),
            rule(p, kT0 + 6 * kUs, "security", INPUT, "INPUT", 1, RuleKind::Policy, std::nullopt),
            table(p, kT0 + 7 * kUs, "security", INPUT, DROP, 300)});
    expect_golden("entry_forms", h.text());
}

TEST(TreeView, ColourOnAndOff) {
    auto run = [](bool colour) {
        TreeOptions o = base_opts();
        o.colour = colour;
        Harness h(o);
        const Packet p = tcp(0xffff8df50291d300, "192.168.10.20", 40030, "192.168.10.1", 8080, 0x02);
        h.feed({rule(p, kT0 + 10 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -p tcp -j USR"),
                rule(p, kT0 + 11 * kUs, "filter", INPUT, "USR", 2, RuleKind::Rule, "-A USR -j ACCEPT"),
                table(p, kT0 + 12 * kUs, "filter", INPUT, ACCEPT, 3050),
                rule(p, kT0 + 13 * kUs, "security", INPUT, "INPUT", 1, RuleKind::Policy, "policy DROP"),
                table(p, kT0 + 14 * kUs, "security", INPUT, DROP, 200)});
        return h.text();
    };
    const std::string plain = run(false), coloured = run(true);
    EXPECT_EQ(plain.find('\x1b'), std::string::npos);
    EXPECT_NE(coloured.find("\x1b[31mDROP\x1b[0m"), std::string::npos);
    EXPECT_NE(coloured.find("\x1b[32mACCEPT\x1b[0m"), std::string::npos);
    // The same text once the codes are gone.
    EXPECT_EQ(std::regex_replace(coloured, std::regex("\x1b\\[[0-9;]*m"), ""), plain);
    expect_golden("colour_on", coloured);
    expect_golden("colour_off", plain);
}

TEST(TreeView, OpenBlocksAreCapped) {
    TreeOptions o = base_opts();
    o.max_open = 2;
    Harness h(o);
    for (uint16_t i = 0; i < 3; ++i) {
        const Packet p = icmp(0xffff8df50291f000 + i * 0x100, "10.0.0.1", "10.0.0.2", i, i);
        h.view.event(rule(p, kT0 + i * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j ACCEPT"));
    }
    EXPECT_EQ(h.view.open_blocks(), 2u);
    EXPECT_EQ(h.view.printed_early(), 1u);
    const auto hs = headers(h.text());
    ASSERT_EQ(hs.size(), 1u);
    EXPECT_NE(hs[0].find("skb=0xffff8df50291f000"), std::string::npos);  // the oldest
    expect_golden("capped", h.text());
    h.view.finish();
    EXPECT_EQ(headers(h.text()).size(), 3u);
    EXPECT_EQ(h.view.printed_early(), 1u);
}

TEST(TreeView, LinesPerBlockAreCapped) {
    TreeOptions o = base_opts();
    o.max_lines = 3;
    Harness h(o);
    const Packet p = icmp(0xffff8df50291f100, "10.0.0.1", "10.0.0.2", 1);
    for (uint32_t n = 1; n <= 5; ++n)
        h.view.event(rule(p, kT0 + n * kUs, "filter", INPUT, "INPUT", n, RuleKind::Rule, "-A INPUT -j LOG"));
    h.view.event(table(p, kT0 + 9 * kUs, "filter", INPUT, DROP, 100));
    const std::string t = h.text();
    EXPECT_NE(t.find("      rule 2: -A INPUT -j LOG\n"), std::string::npos);
    EXPECT_EQ(t.find("rule 3:"), std::string::npos);
    EXPECT_NE(t.find("! 3 further rule events of this walk not shown (more than 3 lines)"), std::string::npos);
}

TEST(TreeView, ReusedSkbStartsANewBlock) {
    Harness h;
    const Packet p1 = icmp(0xffff8df50291f200, "10.0.0.1", "10.0.0.2", 1);
    const Packet p2 = icmp(0xffff8df50291f200, "10.0.0.1", "10.0.0.2", 2);  // same skb address, next ping
    h.feed({rule(p1, kT0 + 1 * kUs, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j ACCEPT"),
            table(p1, kT0 + 2 * kUs, "filter", INPUT, ACCEPT, 100)});
    // No other walk on the CPU in between: only the table starting again
    // tells the next packet.
    h.view.event(rule(p2, kT0 + 1 * kSec, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j ACCEPT"));
    ASSERT_EQ(headers(h.text()).size(), 1u);
    EXPECT_NE(h.text().find("I_request:10.0.0.1->10.0.0.2"), std::string::npos);
    h.view.event(table(p2, kT0 + 1 * kSec + kUs, "filter", INPUT, ACCEPT, 100));
    h.view.finish();
    const auto hs = headers(h.text());
    ASSERT_EQ(hs.size(), 2u);
    EXPECT_EQ(hs[0].substr(0, 15), "09:53:15.000001");
    EXPECT_EQ(hs[1].substr(0, 15), "09:53:16.000000");
}

TEST(TreeView, SinceFirstTime) {
    TreeOptions o = base_opts();
    o.sink.time_mode = TimeMode::SinceFirst;
    Harness h(o);
    const Packet a = icmp(0xffff8df50291f300, "10.0.0.1", "10.0.0.2", 1, 0);
    const Packet b = icmp(0xffff8df50291f400, "10.0.0.1", "10.0.0.2", 2, 1);
    h.feed({table(a, kT0 + 5 * kUs, "filter", INPUT, DROP, 100),
            table(b, kT0 + 2 * kSec + 7 * kUs, "filter", INPUT, DROP, 100)});
    const auto hs = headers(h.text());
    ASSERT_EQ(hs.size(), 2u);
    EXPECT_EQ(hs[0].substr(0, 9), "0.000000 ");
    EXPECT_EQ(hs[1].substr(0, 9), "2.000002 ");
    // No Rule event of the call: the fate says so.
    EXPECT_NE(h.text().find("filter -> DROP 100ns (no rule event seen)"), std::string::npos);
}

TEST(TreeView, FlushKeepsOpenBlocksAndFateAddsNothing) {
    Harness h;
    const Packet p = icmp(0xffff8df50291f500, "10.0.0.1", "10.0.0.2", 1);
    h.view.event(rule(p, kT0, "filter", INPUT, "INPUT", 1, RuleKind::Rule, "-A INPUT -j ACCEPT"));
    h.view.flush();
    Fate f;
    f.pkt = p;
    f.table = "filter";
    f.verdict = ACCEPT;
    h.view.fate(f, "ACCEPT by filter/INPUT rule 1: -A INPUT -j ACCEPT");
    EXPECT_EQ(h.text(), "");
    EXPECT_EQ(h.view.open_blocks(), 1u);
}

// The netlink backend's nf_tables events: no skb, no Nft verdict event; the
// policy or terminal verdict ends the base chain call.
TraceEvent nft_rule(const Packet& p, uint64_t t, std::string chain, uint32_t num, int32_t verdict,
                    std::optional<std::string> text, RuleKind kind = RuleKind::Rule, std::string target = "") {
    TraceEvent ev;
    ev.kind = EventKind::NftRule;
    ev.mono_ns = t;
    ev.pkt = p;
    ev.pf = 2;
    ev.hook = INPUT;
    ev.table = "filter";
    ev.chain = std::move(chain);
    ev.base_chain = "INPUT";
    ev.in_dev = p.ifname;
    ev.rulenum = num;
    ev.rule_kind = kind;
    ev.nft_verdict = verdict;
    ev.nft_verdict_known = true;
    ev.verdict_target = std::move(target);
    ev.rule_text = std::move(text);
    return ev;
}

TEST(TreeView, NftRuleEventsOfTheNetlinkBackend) {
    Harness h;
    const Packet p = icmp(0, "10.77.0.2", "10.77.0.1", 7, std::nullopt);
    h.feed({nft_rule(p, kT0 + 1 * kUs, "INPUT", 1, -3, "-A INPUT -p icmp -j BLOCK", RuleKind::Rule, "BLOCK"),
            nft_rule(p, kT0 + 2 * kUs, "BLOCK", 1, 0, "-A BLOCK -s 10.77.0.2/32 -j DROP")});
    // The DROP ends the walk: printed at once.
    const std::string t = h.text();
    EXPECT_NE(t.find("  nft ip filter/INPUT -> DROP\n"), std::string::npos) << t;
    EXPECT_NE(t.find("      rule 1: -A INPUT -p icmp -j BLOCK\n"), std::string::npos) << t;
    EXPECT_NE(t.find("        rule 1: -A BLOCK -s 10.77.0.2/32 -j DROP  <- DROP\n"), std::string::npos) << t;
    EXPECT_NE(t.find("  => DROP by nft ip filter/BLOCK rule 1: -A BLOCK -s 10.77.0.2/32 -j DROP\n"), std::string::npos)
        << t;
    EXPECT_EQ(h.view.open_blocks(), 0u);

    // Accepted by the policy after the user chain's end: waits for the tick.
    const Packet q = icmp(0, "10.77.0.3", "10.77.0.1", 8, std::nullopt);
    h.out.str("");
    h.feed({nft_rule(q, kT0 + 10 * kUs, "INPUT", 1, -3, "-A INPUT -p icmp -j BLOCK", RuleKind::Rule, "BLOCK"),
            nft_rule(q, kT0 + 11 * kUs, "BLOCK", 0, -5, "return", RuleKind::Return),
            nft_rule(q, kT0 + 12 * kUs, "INPUT", 0, 1, "policy ACCEPT", RuleKind::Policy)});
    EXPECT_EQ(h.text(), "");
    h.view.tick(kT0 + 12 * kUs + 300 * kMs);
    const std::string u = h.text();
    EXPECT_NE(u.find("  nft ip filter/INPUT -> ACCEPT\n"), std::string::npos) << u;
    EXPECT_NE(u.find("        return\n"), std::string::npos) << u;
    EXPECT_NE(u.find("      policy ACCEPT  <- ACCEPT\n"), std::string::npos) << u;
}
