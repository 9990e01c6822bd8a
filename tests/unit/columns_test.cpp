// Golden tests for the column sink: the seed's sample output, byte for byte,
// then the lines the seed never showed (return/policy, IPv6, UDP, ICMP, nft,
// rule text, unknown fields).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "iptables_trace/event.h"
#include "iptables_trace/format.hpp"
#include "iptables_trace/sink.hpp"

using namespace itr;

namespace {

constexpr int64_t kSec = 1'000'000'000;
// A wall clock second whose local time (UTC-5) is 04:53:15.
constexpr int64_t kDay = 1700006400;  // 2023-11-15T00:00:00Z, a multiple of 86400
constexpr int64_t kWallSec = kDay + 9 * 3600 + 53 * 60 + 15;
constexpr uint64_t kMono = 5000 * kSec + 123456;  // some time after boot

SinkOptions seed_opts() {
    SinkOptions o;
    o.realtime_offset_ns = kWallSec * kSec - static_cast<int64_t>(kMono);
    o.utc_offset_s = -5 * 3600;
    return o;
}

std::string read_file(const char* path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct SeedRow {
    uint64_t skb;
    uint32_t pid, cpu;
    bool in;  // received on enp0s8 (INPUT) vs sent (OUTPUT)
    bool mac;  // the OUTPUT rows that show 87:ab:0d:ea:d5:19
    uint16_t ip_len;
    uint64_t cost_ns;
};

// One SeedRow gives two lines: the rule hit, then the table's verdict.
std::vector<TraceEvent> seed_events() {
    const std::vector<SeedRow> rows = {
        {0xffff8df402e052e8, 6888, 3, false, false, 264, 77425},
        {0xffff8df50291d200, 8432, 1, true, true, 52, 36942},
        {0xffff8df402e050e8, 8432, 1, false, true, 88, 40266},
        {0xffff8df402e04ce8, 6888, 3, false, false, 328, 84420},
        {0xffff8df50291db00, 8432, 1, true, true, 52, 38611},
        {0xffff8df50291d000, 8432, 1, true, true, 52, 40887},
        {0xffff8df50291d900, 8432, 1, true, true, 52, 48685},
        {0xffff8df402e048e8, 6888, 3, false, false, 328, 126368},
        {0xffff8df50291df00, 8432, 1, true, true, 52, 38087},
        {0xffff8df402e050e8, 6888, 3, false, true, 1324, 40680},
    };
    const std::array<uint8_t, 4> local{192, 168, 1, 138}, peer{192, 168, 1, 12};
    std::vector<TraceEvent> out;
    uint64_t t = kMono;
    for (const auto& r : rows) {
        TraceEvent ev;
        ev.mono_ns = t;
        t += 20000;
        Packet& p = ev.pkt;
        p.skb = r.skb;
        p.netns = 4026531840u;
        p.pid = r.pid;
        p.cpu = r.cpu;
        p.ip_version = 4;
        p.l4proto = 6;
        p.ip_len = r.ip_len;
        if (r.in) {
            p.ifname = "enp0s8";
            p.dst_mac = std::array<uint8_t, 6>{0x08, 0x00, 0x27, 0x39, 0xde, 0x94};
            std::copy(peer.begin(), peer.end(), p.saddr.begin());
            std::copy(local.begin(), local.end(), p.daddr.begin());
            p.sport = 53030;
            p.dport = 22;
            p.tcp_flags = 0x08;  // what the seed printed for these
        } else {
            if (r.mac) p.dst_mac = std::array<uint8_t, 6>{0x87, 0xab, 0x0d, 0xea, 0xd5, 0x19};
            std::copy(local.begin(), local.end(), p.saddr.begin());
            std::copy(peer.begin(), peer.end(), p.daddr.begin());
            p.sport = 22;
            p.dport = 53030;
            p.tcp_flags = 0x18;
        }
        ev.pf = ITR_NFPROTO_IPV4;
        ev.hook = r.in ? 1 : 3;
        ev.table = "filter";
        ev.kind = EventKind::Rule;
        ev.chain = r.in ? "INPUT" : "OUTPUT";
        (r.in ? ev.in_dev : ev.out_dev) = "enp0s8";
        ev.rulenum = 1;
        ev.rule_kind = RuleKind::Rule;
        out.push_back(ev);

        TraceEvent tv = ev;
        tv.kind = EventKind::Table;
        tv.chain.clear();
        tv.in_dev.clear();
        tv.out_dev.clear();
        tv.rule_kind = RuleKind::Unknown;
        tv.rulenum = 0;
        tv.verdict = 1;
        tv.cost_ns = r.cost_ns;
        tv.mono_ns = t;
        t += 20000;
        out.push_back(tv);
    }
    return out;
}

std::string render(const std::vector<TraceEvent>& evs, SinkOptions o) {
    std::ostringstream ss;
    auto sink = make_column_sink(ss, o);
    for (const auto& e : evs) sink->event(e);
    sink->flush();
    return ss.str();
}

std::string line_of(const TraceEvent& ev, SinkOptions o = seed_opts()) {
    o.header = false;
    std::string s = render({ev}, o);
    EXPECT_FALSE(s.empty());
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
}

TraceEvent base_event() { return seed_events()[2]; }  // INPUT rule line

constexpr const char* kPrefixIn =
    "[04:53:15] [0xffff8df50291d200] [4026531840] 8432     1      enp0s8             08:00:27:39:de:94  52     ";

}  // namespace

TEST(Columns, HeaderConstantMatchesSeed) {
    const std::string seed = read_file(ITR_SEED_SAMPLE);
    ASSERT_FALSE(seed.empty());
    EXPECT_EQ(seed.substr(0, seed.find('\n')), kColumnHeader);
}

TEST(Columns, SeedSampleByteForByte) {
    const std::string seed = read_file(ITR_SEED_SAMPLE);
    ASSERT_FALSE(seed.empty());
    const std::string got = render(seed_events(), seed_opts());
    // Compare line by line first for a readable failure, then the whole.
    std::istringstream a(seed), b(got);
    std::string la, lb;
    int n = 0;
    while (std::getline(a, la)) {
        ASSERT_TRUE(std::getline(b, lb)) << "missing line " << n;
        EXPECT_EQ(lb, la) << "line " << n;
        ++n;
    }
    EXPECT_EQ(n, 21);
    EXPECT_EQ(got, seed);
}

TEST(Columns, HeaderOnlyOnceAndOptional) {
    auto evs = seed_events();
    std::string s = render({evs[0], evs[1]}, seed_opts());
    EXPECT_EQ(s.find(kColumnHeader), 0u);
    EXPECT_EQ(s.find(kColumnHeader, 1), std::string::npos);
    SinkOptions o = seed_opts();
    o.header = false;
    EXPECT_EQ(render({evs[0]}, o).find("TIME"), std::string::npos);
}

TEST(Columns, FlushWritesHeaderBeforeAnyEvent) {
    std::ostringstream ss;
    auto sink = make_column_sink(ss, seed_opts());
    sink->flush();
    EXPECT_EQ(ss.str(), std::string(kColumnHeader) + "\n");
    sink->event(seed_events()[0]);
    EXPECT_EQ(ss.str().find(kColumnHeader, 1), std::string::npos);
}

TEST(Columns, LostWritesNothingButCounts) {
    std::ostringstream ss;
    SinkOptions o = seed_opts();
    o.header = false;
    auto sink = make_column_sink(ss, o);
    sink->lost(5, 2);
    sink->lost(7, -1);
    sink->flush();
    EXPECT_EQ(ss.str(), "");
    EXPECT_EQ(sink->lost_total(), 12u);
}

TEST(Columns, ReturnPolicyUnknown) {
    TraceEvent ev = base_event();
    ev.rulenum = 7;
    ev.rule_kind = RuleKind::Return;
    ev.chain = "MYCHAIN";
    EXPECT_EQ(line_of(ev), std::string(kPrefixIn) +
                               "T_PSH:192.168.1.12:53030->192.168.1.138:22             "
                               "ipttrace=[pf=PF_INET in=enp0s8 out= table=filter chain=MYCHAIN hook=1 rulenum=return]");
    ev.rule_kind = RuleKind::Policy;
    ev.chain = "INPUT";
    EXPECT_EQ(line_of(ev), std::string(kPrefixIn) +
                               "T_PSH:192.168.1.12:53030->192.168.1.138:22             "
                               "ipttrace=[pf=PF_INET in=enp0s8 out= table=filter chain=INPUT hook=1 rulenum=policy]");
    ev.rule_kind = RuleKind::Unknown;
    EXPECT_NE(line_of(ev).find(" rulenum=?]"), std::string::npos);
}

TEST(Columns, TableVerdicts) {
    TraceEvent ev = seed_events()[3];
    ev.verdict = 0;
    ev.cost_ns = 1500000;
    EXPECT_EQ(line_of(ev).substr(161), "iptables=[pf=PF_INET table=filter hook=INPUT verdict=DROP cost=1.5ms]");
    ev.verdict = (3u << 16) | 3u;
    ev.cost_ns.reset();
    EXPECT_EQ(line_of(ev).substr(161), "iptables=[pf=PF_INET table=filter hook=INPUT verdict=QUEUE cost=?]");
    ev.verdict.reset();
    ev.table = "raw";
    ev.hook = 0;
    EXPECT_EQ(line_of(ev).substr(161), "iptables=[pf=PF_INET table=raw hook=PREROUTING verdict=? cost=?]");
    ev.verdict = 9;
    EXPECT_EQ(line_of(ev).substr(161), "iptables=[pf=PF_INET table=raw hook=PREROUTING verdict=UNKNOWN(9) cost=?]");
}

TEST(Columns, Ipv6Tcp) {
    TraceEvent ev = base_event();
    ev.pf = ITR_NFPROTO_IPV6;
    ev.pkt.ip_version = 6;
    ev.pkt.ip_len = 72;
    ev.pkt.saddr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ev.pkt.daddr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    ev.pkt.sport = 51000;
    ev.pkt.dport = 80;
    ev.pkt.tcp_flags = 0x02;
    EXPECT_EQ(line_of(ev),
              "[04:53:15] [0xffff8df50291d200] [4026531840] 8432     1      enp0s8             08:00:27:39:de:94  72     "
              "T_SYN:[fd00::1]:51000->[fd00::2]:80                    "
              "ipttrace=[pf=PF_INET6 in=enp0s8 out= table=filter chain=INPUT hook=1 rulenum=1]");
}

TEST(Columns, LongPktInfoStillSeparated) {
    TraceEvent ev = base_event();
    ev.pf = ITR_NFPROTO_IPV6;
    ev.pkt.ip_version = 6;
    ev.pkt.saddr.fill(0x11);
    ev.pkt.daddr.fill(0x22);
    ev.pkt.tcp_flags = 0x19;
    const std::string l = line_of(ev);
    EXPECT_NE(l.find("T_FIN,ACK,PSH:[1111:1111:1111:1111:1111:1111:1111:1111]:53030->"
                     "[2222:2222:2222:2222:2222:2222:2222:2222]:22 ipttrace=[pf=PF_INET6"),
              std::string::npos)
        << l;
}

TEST(Columns, UdpAndIcmp) {
    TraceEvent ev = base_event();
    ev.pkt.l4proto = 17;
    ev.pkt.ip_len = 60;
    ev.pkt.sport = 5353;
    ev.pkt.dport = 53;
    EXPECT_EQ(line_of(ev),
              "[04:53:15] [0xffff8df50291d200] [4026531840] 8432     1      enp0s8             08:00:27:39:de:94  60     "
              "U:192.168.1.12:5353->192.168.1.138:53                  "
              "ipttrace=[pf=PF_INET in=enp0s8 out= table=filter chain=INPUT hook=1 rulenum=1]");
    ev.pkt.l4proto = 1;
    ev.pkt.ip_len = 84;
    ev.pkt.sport.reset();
    ev.pkt.dport.reset();
    ev.pkt.has_icmp = true;
    ev.pkt.icmp_type = 8;
    EXPECT_EQ(line_of(ev),
              "[04:53:15] [0xffff8df50291d200] [4026531840] 8432     1      enp0s8             08:00:27:39:de:94  84     "
              "I_request:192.168.1.12->192.168.1.138                  "
              "ipttrace=[pf=PF_INET in=enp0s8 out= table=filter chain=INPUT hook=1 rulenum=1]");
}

TEST(Columns, NftLine) {
    TraceEvent ev = seed_events()[3];
    ev.kind = EventKind::Nft;
    ev.pf = ITR_NFPROTO_INET;
    ev.table = "fw";
    ev.chain = "input";
    ev.hook = 1;
    ev.verdict = 1;
    ev.cost_ns = 2100;
    EXPECT_EQ(line_of(ev).substr(161), "nft=[family=inet table=fw chain=input hook=INPUT verdict=ACCEPT cost=2.1\u00b5s]");
    ev.pf = ITR_NFPROTO_NETDEV;
    ev.hook = 0;
    ev.verdict = 0;
    EXPECT_EQ(line_of(ev).substr(161), "nft=[family=netdev table=fw chain=input hook=INGRESS verdict=DROP cost=2.1\u00b5s]");
}

TEST(Columns, RuleTextAtTheEnd) {
    TraceEvent ev = base_event();
    const std::string plain = line_of(ev);
    ev.rule_text = "-A INPUT -p tcp -m comment --comment \"say \\\"hi\\\"\" -j ACCEPT";
    EXPECT_EQ(line_of(ev),
              plain + " rule=\"-A INPUT -p tcp -m comment --comment \\\"say \\\\\\\"hi\\\\\\\"\\\" -j ACCEPT\"");
    ev.rule_text = std::string("tab\there\nnl\x01 caf\xc3\xa9 bad\xff\0z", 25);  // with a NUL
    EXPECT_EQ(line_of(ev), plain + " rule=\"tab\\there\\nnl\\x01 caf\xc3\xa9 bad\\xff\\x00z\"");
    ev.rule_text = "policy DROP";
    ev.rule_text_stale = true;
    EXPECT_EQ(line_of(ev), plain + " rule?=\"policy DROP\"");
    ev.rule_text = "";
    ev.rule_text_stale = false;
    EXPECT_EQ(line_of(ev), plain + " rule=\"\"");
}

TEST(Columns, UnknownFieldsAreQuestionMarks) {
    TraceEvent ev = base_event();
    ev.pkt.skb = 0;
    ev.pkt.netns.reset();
    ev.pkt.pid.reset();
    ev.pkt.cpu.reset();
    ev.pkt.dst_mac.reset();
    EXPECT_EQ(line_of(ev),
              "[04:53:15] [?]                  [?]          ?        ?      enp0s8             00:00:00:00:00:00  52     "
              "T_PSH:192.168.1.12:53030->192.168.1.138:22             "
              "ipttrace=[pf=PF_INET in=enp0s8 out= table=filter chain=INPUT hook=1 rulenum=1]");
}

TEST(Columns, NoL3) {
    TraceEvent ev = base_event();
    ev.pkt.ip_version = 0;
    ev.pkt.ip_len = 0;
    EXPECT_EQ(line_of(ev),
              "[04:53:15] [0xffff8df50291d200] [4026531840] 8432     1      enp0s8             08:00:27:39:de:94  ?      "
              "?                                                      "
              "ipttrace=[pf=PF_INET in=enp0s8 out= table=filter chain=INPUT hook=1 rulenum=1]");
}

TEST(Columns, OddInterfaceNamesKeepTheLine) {
    TraceEvent ev = base_event();
    ev.pkt.ifname = "br\n0";
    const std::string l = line_of(ev);
    EXPECT_EQ(l.find('\n'), std::string::npos);
    EXPECT_NE(l.find("] 8432     1      br\\x0a0            08:00"), std::string::npos) << l;
}

TEST(Columns, ClockUsesRealtimeOffsetAndZone) {
    TraceEvent ev = base_event();
    SinkOptions o = seed_opts();
    o.utc_offset_s = 0;
    EXPECT_EQ(line_of(ev, o).substr(0, 11), "[09:53:15] ");
    o.utc_offset_s = 15 * 3600;  // wraps past midnight
    EXPECT_EQ(line_of(ev, o).substr(0, 11), "[00:53:15] ");
    o.utc_offset_s = -10 * 3600;  // wraps backwards
    EXPECT_EQ(line_of(ev, o).substr(0, 11), "[23:53:15] ");
    // Crossing a second boundary refreshes the cached text.
    o.utc_offset_s = 0;
    o.header = false;
    TraceEvent later = ev;
    later.mono_ns += 2 * kSec;
    std::string two = render({ev, later, ev}, o);
    EXPECT_EQ(two.substr(0, 10), "[09:53:15]");
    EXPECT_EQ(two.substr(two.find('\n') + 1, 10), "[09:53:17]");
    EXPECT_EQ(two.substr(two.rfind('\n', two.size() - 2) + 1, 10), "[09:53:15]");
}

TEST(Columns, SinceFirst) {
    SinkOptions o = seed_opts();
    o.time_mode = TimeMode::SinceFirst;
    o.header = false;
    TraceEvent a = base_event(), b = a, c = a, d = a;
    b.mono_ns += 123456;
    c.mono_ns += 62 * kSec + 5000;
    d.mono_ns -= 2000;  // another CPU's event handed over late
    std::istringstream ss(render({a, b, c, d}, o));
    std::string l;
    std::getline(ss, l);
    EXPECT_EQ(l.substr(0, 22), "[0.000000] [0xffff8df5");
    std::getline(ss, l);
    EXPECT_EQ(l.substr(0, 22), "[0.000123] [0xffff8df5");
    std::getline(ss, l);
    EXPECT_EQ(l.substr(0, 23), "[62.000005] [0xffff8df5");
    std::getline(ss, l);
    EXPECT_EQ(l.substr(0, 23), "[-0.000002] [0xffff8df5");
}

TEST(Columns, FateLineKeepsPacketColumnsAndEndsWithTheStatement) {
    const TraceEvent ev = base_event();
    Fate f;
    f.pkt = ev.pkt;
    f.mono_ns = ev.mono_ns;
    f.pf = ev.pf;
    f.hook = ev.hook;
    f.table = "filter";
    f.verdict = 0;
    std::ostringstream ss;
    SinkOptions o = seed_opts();
    o.header = false;
    auto sink = make_column_sink(ss, o);
    sink->fate(f, "DROP by filter/INPUT rule 3: -A INPUT -m comment --comment \"x\ty\" -j DROP");
    const std::string line = ss.str();
    const std::string ev_line = line_of(ev);
    // Same packet columns as an event line of that packet.
    const auto cut = ev_line.find("ipttrace=[");
    ASSERT_NE(cut, std::string::npos);
    EXPECT_EQ(line.substr(0, cut), ev_line.substr(0, cut));
    EXPECT_EQ(line.substr(cut),
              "fate=[DROP by filter/INPUT rule 3: -A INPUT -m comment --comment \"x\\x09y\" -j DROP]\n");
}

TEST(Columns, TimeHelpersShared) {
    // 1969-12-31T23:59:59Z: the second before the epoch is still 23:59:59.
    EXPECT_EQ(local_seconds(0, -kSec, 0), -1);
    EXPECT_EQ(local_seconds(0, -1, 0), -1);  // floors, not truncates
    std::string s;
    append_hms(s, -1);
    EXPECT_EQ(s, "23:59:59");
    s.clear();
    append_hms(s, kWallSec - 5 * 3600);
    EXPECT_EQ(s, "04:53:15");
    s.clear();
    append_since(s, 3 * kSec + 7000, kSec);
    EXPECT_EQ(s, "2.000007");
    s.clear();
    append_since(s, kSec, kSec + 1500);
    EXPECT_EQ(s, "-0.000001");
}

// nf_tables trace events (netlink backend): no skb, CPU or PID.
TraceEvent nft_rule_event() {
    TraceEvent ev = base_event();
    ev.kind = EventKind::NftRule;
    ev.pkt.skb = 0;
    ev.pkt.pid.reset();
    ev.pkt.cpu.reset();
    ev.pf = ITR_NFPROTO_IPV4;
    ev.table = "filter";
    ev.chain = "BLOCK";
    ev.base_chain = "INPUT";
    ev.rule_kind = RuleKind::Rule;
    ev.rulenum = 1;
    ev.handle = 4;
    ev.nft_verdict = 0;
    ev.nft_verdict_known = true;
    ev.rule_text = "-A BLOCK -s 10.77.0.2/32 -j DROP";
    return ev;
}

TEST(Columns, NftRuleLine) {
    TraceEvent ev = nft_rule_event();
    const std::string line = line_of(ev);
    EXPECT_EQ(line.substr(0, 40), "[04:53:15] [?]                  [4026531");
    EXPECT_EQ(line.substr(161),
              "nfttrace=[family=ip table=filter chain=BLOCK rulenum=1 handle=4 verdict=DROP] "
              "rule=\"-A BLOCK -s 10.77.0.2/32 -j DROP\"");
    // A jump, stale text.
    ev.chain = "INPUT";
    ev.handle = 3;
    ev.nft_verdict = -3;
    ev.verdict_target = "BLOCK";
    ev.rule_text = "-A INPUT -p icmp -j BLOCK";
    ev.rule_text_stale = true;
    EXPECT_EQ(line_of(ev).substr(161),
              "nfttrace=[family=ip table=filter chain=INPUT rulenum=1 handle=3 verdict=JUMP:BLOCK] "
              "rule?=\"-A INPUT -p icmp -j BLOCK\"");
    // Unknown position, a goto in an inet table, no text.
    ev.pf = ITR_NFPROTO_INET;
    ev.table = "t";
    ev.rulenum = 0;
    ev.nft_verdict = -4;
    ev.verdict_target = "c2";
    ev.rule_text.reset();
    EXPECT_EQ(line_of(ev).substr(161), "nfttrace=[family=inet table=t chain=INPUT rulenum=? handle=3 verdict=GOTO:c2]");
    // End of a chain and a policy: no handle.
    ev.handle.reset();
    ev.verdict_target.clear();
    ev.rule_kind = RuleKind::Return;
    ev.nft_verdict = -5;
    ev.rule_text = "return";
    EXPECT_EQ(line_of(ev).substr(161),
              "nfttrace=[family=inet table=t chain=INPUT rulenum=return verdict=RETURN] rule?=\"return\"");
    ev.rule_kind = RuleKind::Policy;
    ev.nft_verdict = 0;
    ev.rule_text = "policy drop";
    ev.rule_text_stale = false;
    EXPECT_EQ(line_of(ev).substr(161),
              "nfttrace=[family=inet table=t chain=INPUT rulenum=policy verdict=DROP] rule=\"policy drop\"");
    ev.nft_verdict_known = false;
    EXPECT_EQ(line_of(ev).substr(161),
              "nfttrace=[family=inet table=t chain=INPUT rulenum=policy verdict=?] rule=\"policy drop\"");
    // QUEUE carries its number.
    ev.rule_kind = RuleKind::Rule;
    ev.rulenum = 2;
    ev.handle = 9;
    ev.nft_verdict = (7 << 16) | 3;
    ev.nft_verdict_known = true;
    ev.rule_text.reset();
    EXPECT_EQ(line_of(ev).substr(161), "nfttrace=[family=inet table=t chain=INPUT rulenum=2 handle=9 verdict=QUEUE:7]");
}

TEST(Columns, NftRuleHostileNamesAndComments) {
    TraceEvent ev = nft_rule_event();
    ev.table = "t x";
    ev.chain = "c\n]";
    ev.nft_verdict = -3;
    ev.verdict_target = "evil chain\x1b[31m";
    ev.rule_text = "ip saddr 1.2.3.4 comment \"a \\\"q\\\"\nrule=\\\"x\"";
    const std::string tail = line_of(ev).substr(161);
    EXPECT_EQ(tail,
              "nfttrace=[family=ip table=t\\x20x chain=c\\x0a] rulenum=1 handle=4 "
              "verdict=JUMP:evil\\x20chain\\x1b[31m] "
              "rule=\"ip saddr 1.2.3.4 comment \\\"a \\\\\\\"q\\\\\\\"\\nrule=\\\\\\\"x\\\"\"");
    EXPECT_EQ(tail.find('\n'), std::string::npos);  // one line
}
