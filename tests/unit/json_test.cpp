// JSON sink tests: the output is parsed back with a minimal strict parser
// (test-only) and checked field by field.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <variant>
#include <vector>

#include "iptables_trace/event.h"
#include "iptables_trace/json.hpp"
#include "iptables_trace/sink.hpp"

using namespace itr;

namespace {

struct JValue;
using JObject = std::map<std::string, JValue>;
using JArray = std::vector<JValue>;
struct JValue {
    // null, bool, number (kept as its text), string, array, object
    std::variant<std::nullptr_t, bool, std::string, std::string, JArray, JObject> v;
    bool is_null() const { return v.index() == 0; }
    bool boolean() const { return std::get<1>(v); }
    const std::string& num_text() const { return std::get<2>(v); }
    uint64_t u64() const { return std::stoull(num_text()); }
    const std::string& str() const { return std::get<3>(v); }
    const JArray& arr() const { return std::get<4>(v); }
    const JObject& obj() const { return std::get<5>(v); }
    const JValue& operator[](const std::string& k) const {
        auto it = obj().find(k);
        if (it == obj().end()) throw std::runtime_error("missing key " + k);
        return it->second;
    }
};

class Parser {
public:
    explicit Parser(std::string_view s) : s_(s) {}
    JValue parse_document() {
        JValue v = value();
        ws();
        if (i_ != s_.size()) fail("trailing text");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& why) {
        throw std::runtime_error(why + " at " + std::to_string(i_));
    }
    void ws() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    char peek() {
        if (i_ >= s_.size()) fail("unexpected end");
        return s_[i_];
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected ") + c);
        ++i_;
    }
    bool lit(std::string_view w) {
        if (s_.substr(i_, w.size()) != w) return false;
        i_ += w.size();
        return true;
    }
    JValue value() {
        ws();
        char c = peek();
        JValue out;
        if (c == '{') {
            ++i_;
            JObject o;
            ws();
            if (peek() == '}') {
                ++i_;
            } else {
                for (;;) {
                    ws();
                    std::string k = string();
                    if (o.count(k)) fail("duplicate key " + k);
                    ws();
                    expect(':');
                    o[k] = value();
                    ws();
                    if (peek() == ',') {
                        ++i_;
                        continue;
                    }
                    expect('}');
                    break;
                }
            }
            out.v.emplace<5>(std::move(o));
        } else if (c == '[') {
            ++i_;
            JArray a;
            ws();
            if (peek() == ']') {
                ++i_;
            } else {
                for (;;) {
                    a.push_back(value());
                    ws();
                    if (peek() == ',') {
                        ++i_;
                        continue;
                    }
                    expect(']');
                    break;
                }
            }
            out.v.emplace<4>(std::move(a));
        } else if (c == '"') {
            out.v.emplace<3>(string());
        } else if (lit("null")) {
            out.v.emplace<0>(nullptr);
        } else if (lit("true")) {
            out.v.emplace<1>(true);
        } else if (lit("false")) {
            out.v.emplace<1>(false);
        } else {
            std::size_t st = i_;
            if (peek() == '-') ++i_;
            if (i_ >= s_.size() || !isdigit(static_cast<unsigned char>(s_[i_]))) fail("bad value");
            if (s_[i_] == '0' && i_ + 1 < s_.size() && isdigit(static_cast<unsigned char>(s_[i_ + 1])))
                fail("leading zero");
            while (i_ < s_.size() && (isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                                      s_[i_] == 'e' || s_[i_] == 'E' || s_[i_] == '+' || s_[i_] == '-'))
                ++i_;
            out.v.emplace<2>(std::string(s_.substr(st, i_ - st)));
        }
        return out;
    }
    unsigned hex4() {
        if (i_ + 4 > s_.size()) fail("short \\u");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            char h = s_[i_++];
            v <<= 4;
            if (h >= '0' && h <= '9') v |= h - '0';
            else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
            else fail("bad hex");
        }
        return v;
    }
    static void put_utf8(std::string& o, unsigned cp) {
        if (cp < 0x80) {
            o.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            o.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            o.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            o.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            o.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            o.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
            o.push_back(static_cast<char>(0xf0 | (cp >> 18)));
            o.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
            o.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            o.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
    }
    std::string string() {
        expect('"');
        std::string o;
        for (;;) {
            char c = peek();
            ++i_;
            if (c == '"') return o;
            if (static_cast<unsigned char>(c) < 0x20) fail("raw control character in string");
            if (c != '\\') {
                o.push_back(c);
                continue;
            }
            char e = peek();
            ++i_;
            switch (e) {
            case '"': o.push_back('"'); break;
            case '\\': o.push_back('\\'); break;
            case '/': o.push_back('/'); break;
            case 'b': o.push_back('\b'); break;
            case 'f': o.push_back('\f'); break;
            case 'n': o.push_back('\n'); break;
            case 'r': o.push_back('\r'); break;
            case 't': o.push_back('\t'); break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xd800 && cp < 0xdc00) {
                    if (!lit("\\u")) fail("lone surrogate");
                    unsigned lo = hex4();
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                put_utf8(o, cp);
                break;
            }
            default: fail("bad escape");
            }
        }
    }
    std::string_view s_;
    std::size_t i_ = 0;
};

JValue parse(std::string_view s) { return Parser(s).parse_document(); }

std::vector<JValue> parse_lines(const std::string& text) {
    std::vector<JValue> out;
    std::istringstream ss(text);
    std::string line;
    while (std::getline(ss, line)) out.push_back(parse(line));
    return out;
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!n || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
        i += n;
    }
    return true;
}

constexpr int64_t kSec = 1'000'000'000;

TraceEvent tcp_event() {
    TraceEvent ev;
    ev.kind = EventKind::Rule;
    ev.mono_ns = 5000 * kSec + 42;
    Packet& p = ev.pkt;
    p.skb = 0xffff8df50291d200ull;
    p.netns = 4026531840u;
    p.pid = 0;  // softirq on an idle CPU: zero, and it must stay zero
    p.cpu = 0;
    p.ifname = "enp0s8";
    p.dst_mac = std::array<uint8_t, 6>{0x08, 0x00, 0x27, 0x39, 0xde, 0x94};
    p.ip_version = 4;
    p.l4proto = 6;
    p.ip_len = 52;
    p.saddr = {192, 168, 1, 12};
    p.daddr = {192, 168, 1, 138};
    p.sport = 53030;
    p.dport = 22;
    p.tcp_flags = 0x18;
    ev.pf = ITR_NFPROTO_IPV4;
    ev.hook = 1;
    ev.table = "filter";
    ev.chain = "INPUT";
    ev.in_dev = "enp0s8";
    ev.rulenum = 1;
    ev.rule_kind = RuleKind::Rule;
    return ev;
}

SinkOptions opts() {
    SinkOptions o;
    // 2026-11-26T19:26:35.123456789Z at mono 5000 s + 42 ns
    o.realtime_offset_ns = (INT64_C(1795721195) * kSec + 123456789) - (5000 * kSec + 42);
    o.utc_offset_s = 3600;  // must not affect JSON
    return o;
}

JValue one(const TraceEvent& ev) {
    std::ostringstream ss;
    auto sink = make_json_sink(ss, opts());
    sink->event(ev);
    const std::string s = ss.str();
    EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
    EXPECT_EQ(s.back(), '\n');
    EXPECT_TRUE(valid_utf8(s));
    return parse(s.substr(0, s.size() - 1));
}

const char* kAllKeys[] = {"time",   "mono_ns",     "kind",       "skb",         "netns",     "pid",
                          "cpu",    "ifname",      "dst_mac",    "ip_version",  "ip_len",    "proto",
                          "l4proto", "saddr",      "daddr",      "sport",       "dport",     "tcp_flags",
                          "icmp",   "pf",          "family",     "pf_raw",      "table",     "chain",
                          "hook",   "hook_name",   "in",         "out",         "rulenum",   "rule_kind",
                          "verdict", "verdict_raw", "queue_num", "cost_ns",     "depth",     "truncated",
                          "admin_trace", "rule",   "rule_stale",  "handle",    "target",    "base_chain"};

}  // namespace

TEST(Json, RuleEventFields) {
    JValue j = one(tcp_event());
    EXPECT_EQ(j.obj().size(), std::size(kAllKeys));
    for (const char* k : kAllKeys) EXPECT_TRUE(j.obj().count(k)) << k;
    EXPECT_EQ(j["time"].str(), "2026-11-26T19:26:35.123456Z");
    EXPECT_EQ(j["mono_ns"].u64(), 5000 * kSec + 42);
    EXPECT_EQ(j["kind"].str(), "rule");
    EXPECT_EQ(j["skb"].str(), "0xffff8df50291d200");
    EXPECT_EQ(j["netns"].u64(), 4026531840u);
    EXPECT_EQ(j["pid"].num_text(), "0");
    EXPECT_EQ(j["cpu"].num_text(), "0");
    EXPECT_EQ(j["ifname"].str(), "enp0s8");
    EXPECT_EQ(j["dst_mac"].str(), "08:00:27:39:de:94");
    EXPECT_EQ(j["ip_version"].u64(), 4u);
    EXPECT_EQ(j["ip_len"].u64(), 52u);
    EXPECT_EQ(j["proto"].str(), "tcp");
    EXPECT_EQ(j["l4proto"].u64(), 6u);
    EXPECT_EQ(j["saddr"].str(), "192.168.1.12");
    EXPECT_EQ(j["daddr"].str(), "192.168.1.138");
    EXPECT_EQ(j["sport"].u64(), 53030u);
    EXPECT_EQ(j["dport"].u64(), 22u);
    ASSERT_EQ(j["tcp_flags"].arr().size(), 2u);
    EXPECT_EQ(j["tcp_flags"].arr()[0].str(), "ACK");
    EXPECT_EQ(j["tcp_flags"].arr()[1].str(), "PSH");
    EXPECT_TRUE(j["icmp"].is_null());
    EXPECT_EQ(j["pf"].str(), "PF_INET");
    EXPECT_EQ(j["family"].str(), "ip");
    EXPECT_EQ(j["pf_raw"].u64(), 2u);
    EXPECT_EQ(j["table"].str(), "filter");
    EXPECT_EQ(j["chain"].str(), "INPUT");
    EXPECT_EQ(j["hook"].u64(), 1u);
    EXPECT_EQ(j["hook_name"].str(), "INPUT");
    EXPECT_EQ(j["in"].str(), "enp0s8");
    EXPECT_EQ(j["out"].str(), "");
    EXPECT_EQ(j["rulenum"].u64(), 1u);
    EXPECT_EQ(j["rule_kind"].str(), "rule");
    EXPECT_TRUE(j["verdict"].is_null());
    EXPECT_TRUE(j["verdict_raw"].is_null());
    EXPECT_TRUE(j["queue_num"].is_null());
    EXPECT_TRUE(j["cost_ns"].is_null());
    EXPECT_EQ(j["depth"].num_text(), "0");
    EXPECT_FALSE(j["truncated"].boolean());
    EXPECT_FALSE(j["admin_trace"].boolean());
    EXPECT_TRUE(j["rule"].is_null());
    EXPECT_FALSE(j["rule_stale"].boolean());
}

TEST(Json, TableEventZerosStayZeros) {
    TraceEvent ev = tcp_event();
    ev.kind = EventKind::Table;
    ev.verdict = 0;  // NF_DROP
    ev.cost_ns = 0;
    ev.hook = 0;
    ev.pkt.tcp_flags = 0;
    JValue j = one(ev);
    EXPECT_EQ(j["kind"].str(), "table");
    EXPECT_EQ(j["verdict"].str(), "DROP");
    EXPECT_EQ(j["verdict_raw"].num_text(), "0");
    EXPECT_EQ(j["cost_ns"].num_text(), "0");
    EXPECT_EQ(j["hook"].num_text(), "0");
    EXPECT_EQ(j["hook_name"].str(), "PREROUTING");
    EXPECT_TRUE(j["chain"].is_null());
    EXPECT_TRUE(j["in"].is_null());
    EXPECT_TRUE(j["out"].is_null());
    EXPECT_TRUE(j["rulenum"].is_null());
    EXPECT_TRUE(j["rule_kind"].is_null());
    EXPECT_EQ(j["tcp_flags"].arr().size(), 0u);
}

TEST(Json, QueueVerdictCarriesItsNumber) {
    TraceEvent ev = tcp_event();
    ev.kind = EventKind::Table;
    ev.verdict = (7u << 16) | 3u;
    JValue j = one(ev);
    EXPECT_EQ(j["verdict"].str(), "QUEUE");
    EXPECT_EQ(j["verdict_raw"].u64(), (7u << 16) | 3u);
    EXPECT_EQ(j["queue_num"].u64(), 7u);
}

TEST(Json, UnknownsAreNull) {
    TraceEvent ev = tcp_event();
    ev.pkt.skb = 0;
    ev.pkt.netns.reset();
    ev.pkt.pid.reset();
    ev.pkt.cpu.reset();
    ev.pkt.dst_mac.reset();
    ev.pkt.ip_version = 0;
    JValue j = one(ev);
    EXPECT_EQ(j.obj().size(), std::size(kAllKeys));
    for (const char* k : {"skb", "netns", "pid", "cpu", "dst_mac", "ip_version", "ip_len", "proto", "l4proto",
                          "saddr", "daddr", "sport", "dport", "tcp_flags", "icmp"})
        EXPECT_TRUE(j[k].is_null()) << k;
}

TEST(Json, Ipv6Icmp6Nft) {
    TraceEvent ev = tcp_event();
    ev.kind = EventKind::Nft;
    ev.pf = ITR_NFPROTO_INET;
    ev.table = "fw";
    ev.chain = "input";
    ev.verdict = 1;
    ev.cost_ns = 2100;
    ev.pkt.ip_version = 6;
    ev.pkt.l4proto = 58;
    ev.pkt.saddr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ev.pkt.daddr = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    ev.pkt.sport.reset();
    ev.pkt.dport.reset();
    ev.pkt.has_icmp = true;
    ev.pkt.icmp_type = 128;
    ev.pkt.icmp_id = 0;
    ev.pkt.icmp_seq = 9;
    JValue j = one(ev);
    EXPECT_EQ(j["kind"].str(), "nft");
    EXPECT_EQ(j["family"].str(), "inet");
    EXPECT_EQ(j["pf"].str(), "UNKNOWN(1)");
    EXPECT_EQ(j["chain"].str(), "input");
    EXPECT_EQ(j["proto"].str(), "icmp6");
    EXPECT_EQ(j["saddr"].str(), "fd00::1");
    EXPECT_EQ(j["daddr"].str(), "fd00::2");
    EXPECT_TRUE(j["sport"].is_null());
    EXPECT_TRUE(j["tcp_flags"].is_null());
    EXPECT_EQ(j["icmp"]["type"].u64(), 128u);
    EXPECT_EQ(j["icmp"]["code"].num_text(), "0");
    EXPECT_EQ(j["icmp"]["id"].num_text(), "0");
    EXPECT_EQ(j["icmp"]["seq"].u64(), 9u);
    EXPECT_EQ(j["verdict"].str(), "ACCEPT");
    EXPECT_EQ(j["cost_ns"].u64(), 2100u);

    ev.pkt.icmp_type = 1;  // destination unreachable: no id/seq
    j = one(ev);
    EXPECT_EQ(j["icmp"]["type"].u64(), 1u);
    EXPECT_TRUE(j["icmp"]["id"].is_null());
    EXPECT_TRUE(j["icmp"]["seq"].is_null());
}

TEST(Json, ReturnPolicyRuleText) {
    TraceEvent ev = tcp_event();
    ev.rule_kind = RuleKind::Policy;
    ev.rulenum = 4;
    ev.rule_text = "policy DROP";
    ev.rule_text_stale = true;
    ev.truncated = true;
    ev.admin_trace = true;
    ev.depth = 2;
    JValue j = one(ev);
    EXPECT_EQ(j["rule_kind"].str(), "policy");
    EXPECT_EQ(j["rulenum"].u64(), 4u);
    EXPECT_EQ(j["rule"].str(), "policy DROP");
    EXPECT_TRUE(j["rule_stale"].boolean());
    EXPECT_TRUE(j["truncated"].boolean());
    EXPECT_TRUE(j["admin_trace"].boolean());
    EXPECT_EQ(j["depth"].u64(), 2u);
    ev.rule_kind = RuleKind::Return;
    EXPECT_EQ(one(ev)["rule_kind"].str(), "return");
}

TEST(Json, EscapingOfOddCharacters) {
    TraceEvent ev = tcp_event();
    const std::string odd = std::string("-A IN \"q\" back\\slash\ttab\nnl\x01\x1f\x7f caf\xc3\xa9 \xf0\x9f\x98\x80 ", 42) +
                            std::string("\0", 1) + "end";
    ev.rule_text = odd;
    ev.pkt.ifname = "e\"th\\0\n";
    ev.chain = "caf\xc3\xa9";
    JValue j = one(ev);
    EXPECT_EQ(j["rule"].str(), odd);
    EXPECT_EQ(j["ifname"].str(), "e\"th\\0\n");
    EXPECT_EQ(j["chain"].str(), "caf\xc3\xa9");
}

TEST(Json, InvalidUtf8IsReplaced) {
    TraceEvent ev = tcp_event();
    ev.rule_text = "a\xff" "b\xc3" "c\xed\xa0\x80" "d";
    JValue j = one(ev);
    EXPECT_EQ(j["rule"].str(), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "d");
}

TEST(Json, StringEscapesExactly) {
    std::string s;
    append_json_string(s, std::string("\"\\\b\f\n\r\t\x01\x1f\x7f/\xc2\xb5\xff", 15));
    EXPECT_EQ(s, "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f/\xc2\xb5\\ufffd\\u0000\"");  // the 15th byte is a NUL
}

TEST(Json, Lost) {
    std::ostringstream ss;
    auto sink = make_json_sink(ss, opts());
    sink->lost(12, 3);
    sink->lost(1, -1);
    sink->flush();
    auto lines = parse_lines(ss.str());
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["kind"].str(), "lost");
    EXPECT_EQ(lines[0]["count"].u64(), 12u);
    EXPECT_EQ(lines[0]["cpu"].u64(), 3u);
    EXPECT_TRUE(lines[1]["cpu"].is_null());
    EXPECT_EQ(sink->lost_total(), 13u);
}

TEST(Json, TimeBeforeEpochAndRounding) {
    TraceEvent ev = tcp_event();
    ev.mono_ns = 0;
    std::ostringstream ss;
    SinkOptions o;
    o.realtime_offset_ns = -1;  // 1969-12-31T23:59:59.999999999Z
    auto sink = make_json_sink(ss, o);
    sink->event(ev);
    JValue j = parse(ss.str().substr(0, ss.str().size() - 1));
    EXPECT_EQ(j["time"].str(), "1969-12-31T23:59:59.999999Z");
}

TEST(Json, ManyLinesOneObjectEach) {
    std::ostringstream ss;
    auto sink = make_json_sink(ss, opts());
    for (int i = 0; i < 50; ++i) sink->event(tcp_event());
    EXPECT_EQ(parse_lines(ss.str()).size(), 50u);
}

namespace {
Fate drop_fate() {
    Fate f;
    f.pkt = tcp_event().pkt;
    f.mono_ns = 5000 * kSec + 42;
    f.pf = ITR_NFPROTO_IPV4;
    f.hook = 1;
    f.table = "filter";
    f.verdict = 0;
    f.cost_ns = 1234;
    f.decided = true;
    f.chain = "USERC";
    f.rulenum = 3;
    f.rule_kind = RuleKind::Rule;
    f.rule_text = "-A USERC -s 10.0.0.0/8 -m comment --comment \"a \\\"q\\\"\" -j DROP";
    f.rules_seen = 4;
    return f;
}

JValue one_fate(const Fate& f, std::string_view statement) {
    std::ostringstream ss;
    auto sink = make_json_sink(ss, opts());
    sink->fate(f, statement);
    const std::string s = ss.str();
    EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);
    return parse(s.substr(0, s.size() - 1));
}
}  // namespace

TEST(Json, FateOfADrop) {
    const Fate f = drop_fate();
    JValue j = one_fate(f, "DROP by filter/USERC rule 3: x");
    for (const char* k : kAllKeys) EXPECT_TRUE(j.obj().count(k)) << k;
    for (const char* k : {"decided", "dropped", "rules_seen", "statement"}) EXPECT_TRUE(j.obj().count(k)) << k;
    EXPECT_EQ(j.obj().size(), std::size(kAllKeys) + 4);
    EXPECT_EQ(j["kind"].str(), "fate");
    EXPECT_EQ(j["table"].str(), "filter");
    EXPECT_EQ(j["chain"].str(), "USERC");
    EXPECT_EQ(j["hook_name"].str(), "INPUT");
    EXPECT_EQ(j["rulenum"].u64(), 3u);
    EXPECT_EQ(j["rule_kind"].str(), "rule");
    EXPECT_EQ(j["rule"].str(), *f.rule_text);
    EXPECT_EQ(j["verdict"].str(), "DROP");
    EXPECT_EQ(j["verdict_raw"].u64(), 0u);
    EXPECT_EQ(j["cost_ns"].u64(), 1234u);
    EXPECT_TRUE(j["decided"].boolean());
    EXPECT_TRUE(j["dropped"].boolean());
    EXPECT_EQ(j["rules_seen"].u64(), 4u);
    EXPECT_EQ(j["statement"].str(), "DROP by filter/USERC rule 3: x");
    EXPECT_EQ(j["saddr"].str(), "192.168.1.12");
}

TEST(Json, FateUndecidedHasNullRule) {
    Fate f = drop_fate();
    f.decided = false;
    f.verdict = 1;
    JValue j = one_fate(f, "ACCEPT by filter at INPUT (no rule event seen)");
    EXPECT_TRUE(j["chain"].is_null());
    EXPECT_TRUE(j["rulenum"].is_null());
    EXPECT_TRUE(j["rule"].is_null());
    EXPECT_FALSE(j["decided"].boolean());
    EXPECT_FALSE(j["dropped"].boolean());
    EXPECT_EQ(j["verdict"].str(), "ACCEPT");
}

TEST(Json, ObjectKeysPlainOddAndLong) {
    std::string out;
    JsonObject o(out);
    o.num("a", 1).str("we\"ird\n", "v").num(std::string(80, 'k'), 2).str("b", "x\\y\"z\x01");
    o.end();
    JValue j = parse(out);
    EXPECT_EQ(j["a"].u64(), 1u);
    EXPECT_EQ(j["we\"ird\n"].str(), "v");
    EXPECT_EQ(j[std::string(80, 'k')].u64(), 2u);
    EXPECT_EQ(j["b"].str(), "x\\y\"z\x01");
    EXPECT_EQ(out, "{\"a\":1,\"we\\\"ird\\n\":\"v\",\"" + std::string(80, 'k') + "\":2,\"b\":\"x\\\\y\\\"z\\u0001\"}");
}

TEST(Json, NftRuleEvent) {
    TraceEvent ev = tcp_event();
    ev.kind = EventKind::NftRule;
    ev.pkt.skb = 0;
    ev.pkt.cpu.reset();
    ev.pkt.pid.reset();
    ev.hook_unknown = false;
    ev.hook = 1;
    ev.table = "filter";
    ev.chain = "INPUT";
    ev.base_chain = "INPUT";
    ev.rulenum = 1;
    ev.handle = 3;
    ev.nft_verdict = -3;
    ev.nft_verdict_known = true;
    ev.verdict_target = "BLOCK";
    ev.rule_text = "-A INPUT -p icmp -j BLOCK";
    JValue j = one(ev);
    EXPECT_EQ(j.obj().size(), std::size(kAllKeys));
    for (const char* k : kAllKeys) EXPECT_TRUE(j.obj().count(k)) << k;
    EXPECT_EQ(j["kind"].str(), "nftrule");
    EXPECT_TRUE(j["skb"].is_null());
    EXPECT_TRUE(j["cpu"].is_null());
    EXPECT_EQ(j["family"].str(), "ip");
    EXPECT_EQ(j["table"].str(), "filter");
    EXPECT_EQ(j["chain"].str(), "INPUT");
    EXPECT_EQ(j["hook_name"].str(), "INPUT");
    EXPECT_EQ(j["in"].str(), "enp0s8");
    EXPECT_EQ(j["rulenum"].u64(), 1u);
    EXPECT_EQ(j["rule_kind"].str(), "rule");
    EXPECT_EQ(j["handle"].u64(), 3u);
    EXPECT_EQ(j["verdict"].str(), "JUMP");
    EXPECT_EQ(j["verdict_raw"].num_text(), "-3");
    EXPECT_TRUE(j["queue_num"].is_null());
    EXPECT_EQ(j["target"].str(), "BLOCK");
    EXPECT_EQ(j["base_chain"].str(), "INPUT");
    EXPECT_TRUE(j["cost_ns"].is_null());
    EXPECT_EQ(j["rule"].str(), "-A INPUT -p icmp -j BLOCK");
    EXPECT_FALSE(j["rule_stale"].boolean());

    // A native table's policy: hook unknown, no handle, no position.
    ev.pf = ITR_NFPROTO_INET;
    ev.table = "t";
    ev.chain = "in\"put";
    ev.hook_unknown = true;
    ev.rule_kind = RuleKind::Policy;
    ev.rulenum = 0;
    ev.handle.reset();
    ev.nft_verdict = 0;
    ev.verdict_target.clear();
    ev.base_chain.clear();
    ev.rule_text = "policy drop";
    ev.rule_text_stale = true;
    j = one(ev);
    EXPECT_EQ(j.obj().size(), std::size(kAllKeys));
    EXPECT_EQ(j["family"].str(), "inet");
    EXPECT_EQ(j["chain"].str(), "in\"put");
    EXPECT_TRUE(j["hook"].is_null());
    EXPECT_TRUE(j["hook_name"].is_null());
    EXPECT_TRUE(j["rulenum"].is_null());
    EXPECT_EQ(j["rule_kind"].str(), "policy");
    EXPECT_TRUE(j["handle"].is_null());
    EXPECT_EQ(j["verdict"].str(), "DROP");
    EXPECT_EQ(j["verdict_raw"].num_text(), "0");
    EXPECT_TRUE(j["target"].is_null());
    EXPECT_TRUE(j["base_chain"].is_null());
    EXPECT_TRUE(j["rule_stale"].boolean());

    ev.nft_verdict_known = false;
    j = one(ev);
    EXPECT_TRUE(j["verdict"].is_null());
    EXPECT_TRUE(j["verdict_raw"].is_null());
}

TEST(Json, OtherKindsHaveNullNftKeys) {
    JValue j = one(tcp_event());
    EXPECT_TRUE(j["handle"].is_null());
    EXPECT_TRUE(j["target"].is_null());
    EXPECT_TRUE(j["base_chain"].is_null());
}
