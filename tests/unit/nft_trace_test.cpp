// NFT_MSG_TRACE decoding and chain-call correlation (nft_trace.hpp): on
// synthesized messages, on messages captured from real kernels
// (data/nft-trace/<kernel>/*.hex) checked against `nft monitor trace` run
// beside the capture, and on every truncation and random corruption of them.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <regex>

#include "iptables_trace/nft_trace.hpp"
#include "nft_test_util.hpp"

using namespace itr::nft;
using itr::nft::testing::MsgBuilder;

namespace {

TraceMessage decode_ok(const std::vector<uint8_t>& b) {
    auto r = decode_trace_message(b);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
    return r.ok() ? *r : TraceMessage{};
}

std::string decode_err(const std::vector<uint8_t>& b) {
    auto r = decode_trace_message(b);
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().what;
}

}  // namespace

// ---- synthesized messages -----------------------------------------------------

TEST(NftTraceDecode, FirstRuleOfACallWithPacketAndJump) {
    std::vector<uint8_t> ll(14, 0xaa), net(20, 0x45), th(8, 0x11);
    auto b = MsgBuilder(2)
                 .trace(NFT_TRACETYPE_RULE, 0xe3491fc9, "filter", "INPUT")
                 .be64(NFTA_TRACE_RULE_HANDLE, 0x1122334455667788ull)
                 .verdict(verdict_code::Jump, "BLOCK")
                 .be32(NFTA_TRACE_IIF, 21)
                 .be16(NFTA_TRACE_IIFTYPE, 1)
                 .be32(NFTA_TRACE_MARK, 0x42)
                 .bytes(NFTA_TRACE_LL_HEADER, ll)
                 .bytes(NFTA_TRACE_NETWORK_HEADER, net)
                 .bytes(NFTA_TRACE_TRANSPORT_HEADER, th)
                 .done();
    TraceMessage m = decode_ok(b);
    EXPECT_EQ(m.family, 2);
    EXPECT_EQ(m.table, "filter");
    EXPECT_EQ(m.chain, "INPUT");
    ASSERT_TRUE(m.handle);
    EXPECT_EQ(*m.handle, 0x1122334455667788ull);
    EXPECT_EQ(m.type, TraceType::Rule);
    EXPECT_EQ(m.kind, HitKind::Rule);
    ASSERT_TRUE(m.verdict);
    EXPECT_EQ(m.verdict->code, verdict_code::Jump);
    EXPECT_EQ(m.verdict->chain, "BLOCK");
    EXPECT_FALSE(m.verdict->terminal());
    EXPECT_EQ(m.id, 0xe3491fc9u);
    EXPECT_EQ(m.nfproto, 2u);
    EXPECT_EQ(m.mark, 0x42u);
    EXPECT_EQ(m.packet.iif, 21u);
    EXPECT_EQ(m.packet.iiftype, 1);
    EXPECT_FALSE(m.packet.oif);
    EXPECT_EQ(m.packet.ll, ll);
    EXPECT_EQ(m.packet.network, net);
    EXPECT_EQ(m.packet.transport, th);
    EXPECT_FALSE(m.policy);
    EXPECT_TRUE(m.ct.empty());
}

TEST(NftTraceDecode, EndOfChainSince67IsAReturn) {
    // 6.7+: TYPE=RULE, verdict continue, no handle.
    TraceMessage m = decode_ok(MsgBuilder(2).trace(NFT_TRACETYPE_RULE, 1, "filter", "BLOCK").verdict(-1).done());
    EXPECT_EQ(m.type, TraceType::Rule);
    EXPECT_EQ(m.kind, HitKind::Return);
    EXPECT_FALSE(m.handle);
    EXPECT_TRUE(m.packet.empty());
}

TEST(NftTraceDecode, ExplicitReturnSince67IsARule) {
    TraceMessage m = decode_ok(
        MsgBuilder(1).trace(NFT_TRACETYPE_RULE, 1, "t", "c").be64(NFTA_TRACE_RULE_HANDLE, 13).verdict(-5).done());
    EXPECT_EQ(m.kind, HitKind::Rule);
    EXPECT_EQ(m.handle, 13u);
    EXPECT_EQ(m.verdict->base(), verdict_code::Return);
}

TEST(NftTraceDecode, ReturnFormsUpTo66) {
    // End of chain: TYPE=RETURN, no handle, verdict continue.
    TraceMessage end = decode_ok(MsgBuilder(2).trace(NFT_TRACETYPE_RETURN, 1, "filter", "BLOCK").verdict(-1).done());
    EXPECT_EQ(end.type, TraceType::Return);
    EXPECT_EQ(end.kind, HitKind::Return);
    // Explicit return: TYPE=RETURN with the rule's handle.
    TraceMessage rule = decode_ok(MsgBuilder(2)
                                      .trace(NFT_TRACETYPE_RETURN, 1, "filter", "DOCKER-USER")
                                      .be64(NFTA_TRACE_RULE_HANDLE, 19)
                                      .verdict(-5)
                                      .done());
    EXPECT_EQ(rule.type, TraceType::Return);
    EXPECT_EQ(rule.kind, HitKind::Rule);
    EXPECT_EQ(rule.handle, 19u);
    // A RETURN without a verdict is still understood.
    EXPECT_EQ(decode_ok(MsgBuilder(2).trace(NFT_TRACETYPE_RETURN, 1, "f", "c").done()).kind, HitKind::Return);
}

TEST(NftTraceDecode, PolicyAndConntrack) {
    TraceMessage m = decode_ok(MsgBuilder(2)
                                   .trace(NFT_TRACETYPE_POLICY, 7, "filter", "FORWARD")
                                   .be32(NFTA_TRACE_POLICY, 0)
                                   .be32(18, 0xdeadbeef)
                                   .u8(19, 1)
                                   .be32(20, 0x18a)
                                   .be32(21, 2)
                                   .done());
    EXPECT_EQ(m.kind, HitKind::Policy);
    EXPECT_EQ(m.policy, 0u);
    EXPECT_FALSE(m.verdict);
    EXPECT_EQ(m.ct.id, 0xdeadbeefu);
    EXPECT_EQ(m.ct.direction, 1);
    EXPECT_EQ(m.ct.status, 0x18au);
    EXPECT_EQ(m.ct.state, 2u);
}

TEST(NftTraceDecode, VerdictBitsAndNames) {
    Verdict q{int32_t((5 << 16) | verdict_code::Queue), std::nullopt};
    EXPECT_EQ(q.base(), verdict_code::Queue);
    EXPECT_TRUE(q.terminal());
    Verdict eperm{int32_t((1 << 16) | verdict_code::Drop), std::nullopt};
    EXPECT_EQ(eperm.base(), verdict_code::Drop);
    EXPECT_EQ(verdict_name(eperm.code), "DROP");
    EXPECT_EQ(verdict_name(q.code), "QUEUE");
    EXPECT_EQ(verdict_name(-3), "JUMP");
    EXPECT_EQ(verdict_name(-4), "GOTO");
    EXPECT_EQ(verdict_name(-5), "RETURN");
    EXPECT_EQ(verdict_name(-1), "CONTINUE");
    EXPECT_EQ(verdict_name(1), "ACCEPT");
    EXPECT_EQ(verdict_name(-9), "UNKNOWN(-9)");
    EXPECT_FALSE((Verdict{-1, {}}.terminal()));
    EXPECT_TRUE((Verdict{2, {}}.terminal()));
}

TEST(NftTraceDecode, NewerAttributesAndPaddingAreSkipped) {
    TraceMessage m = decode_ok(MsgBuilder(2)
                                   .trace(NFT_TRACETYPE_POLICY, 1, "f", "c")
                                   .be64(NFTA_TRACE_PAD, 0)
                                   .be32(40, 1)
                                   .raw_attr(41, "xyz", 3)  // odd length, padded
                                   .be32(NFTA_TRACE_POLICY, 1)
                                   .done());
    EXPECT_EQ(m.policy, 1u);
    // A nested verdict with an unknown member and the chain id.
    auto b = MsgBuilder(2).trace(NFT_TRACETYPE_RULE, 1, "f", "c").be64(NFTA_TRACE_RULE_HANDLE, 2);
    b.nest_begin(NFTA_TRACE_VERDICT).be32(NFTA_VERDICT_CHAIN_ID, 9).be32(NFTA_VERDICT_CODE, 1).be32(7, 0).nest_end();
    EXPECT_EQ(decode_ok(b.done()).verdict->code, 1);
}

TEST(NftTraceDecode, MissingOrMalformedAttributesAreErrors) {
    EXPECT_NE(decode_err(MsgBuilder(2).be32(NFTA_TRACE_ID, 1).str(NFTA_TRACE_TABLE, "f").str(NFTA_TRACE_CHAIN, "c").done())
                  .find("no type"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).be32(NFTA_TRACE_TYPE, 1).str(NFTA_TRACE_TABLE, "f").str(NFTA_TRACE_CHAIN, "c").done())
                  .find("no id"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).be32(NFTA_TRACE_TYPE, 1).be32(NFTA_TRACE_ID, 1).str(NFTA_TRACE_CHAIN, "c").done())
                  .find("no table"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).be32(NFTA_TRACE_TYPE, 1).be32(NFTA_TRACE_ID, 1).str(NFTA_TRACE_TABLE, "f").done())
                  .find("no chain"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).trace(NFT_TRACETYPE_RULE, 1, "f", "c").done()).find("without a verdict"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).trace(0, 1, "f", "c").done()).find("unknown type 0"), std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).trace(4, 1, "f", "c").done()).find("unknown type 4"), std::string::npos);
    // Wrong sizes.
    EXPECT_NE(decode_err(MsgBuilder(2).trace(1, 1, "f", "c").be32(NFTA_TRACE_RULE_HANDLE, 3).done()).find("rule handle"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).trace(1, 1, "f", "c").be16(NFTA_TRACE_MARK, 3).done()).find("mark"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).trace(1, 1, "f", "c").be32(NFTA_TRACE_IIFTYPE, 1).done()).find("iiftype"),
              std::string::npos);
    // Strings.
    EXPECT_NE(decode_err(MsgBuilder(2).trace(1, 1, "f", "c").raw_attr(NFTA_TRACE_TABLE, "abc", 3).done())
                  .find("not NUL-terminated"),
              std::string::npos);
    EXPECT_NE(decode_err(MsgBuilder(2).trace(1, 1, "f", "c").str(NFTA_TRACE_CHAIN, "").done()).find("chain is empty"),
              std::string::npos);
    // A verdict without a code.
    auto b = MsgBuilder(2).trace(NFT_TRACETYPE_RULE, 1, "f", "c");
    b.nest_begin(NFTA_TRACE_VERDICT).str(NFTA_VERDICT_CHAIN, "x").nest_end();
    EXPECT_NE(decode_err(b.done()).find("verdict without a code"), std::string::npos);
}

TEST(NftTraceDecode, FramingErrors) {
    auto good = MsgBuilder(2).trace(NFT_TRACETYPE_POLICY, 1, "f", "c").be32(NFTA_TRACE_POLICY, 1).done();
    ASSERT_TRUE(decode_trace_message(good).ok());
    EXPECT_NE(decode_err(MsgBuilder(2, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE).trace(1, 1, "f", "c").done())
                  .find("not NFT_MSG_TRACE"),
              std::string::npos);
    EXPECT_NE(decode_err(std::vector<uint8_t>(good.begin(), good.begin() + 19)).find("shorter than the headers"),
              std::string::npos);
    auto longer = good;
    longer.resize(good.size() + 8, 0);
    EXPECT_NE(decode_err(longer).find("after the message"), std::string::npos);
    auto v1 = good;
    v1[17] = 1;  // nfgenmsg.version
    EXPECT_NE(decode_err(v1).find("version"), std::string::npos);
    auto big = good;
    big[0] = uint8_t(good.size() + 4);  // nlmsg_len past the bytes
    EXPECT_NE(decode_err(big).find("nlmsg_len"), std::string::npos);
    // The last attribute claims more than is left.
    auto over = good;
    over[over.size() - 8] = 40;
    EXPECT_NE(decode_err(over).find("bytes left"), std::string::npos);
    // An attribute shorter than its own header.
    auto tiny = good;
    tiny[over.size() - 8] = 2;
    EXPECT_NE(decode_err(tiny).find("has length 2"), std::string::npos);
}

// ---- correlation ----------------------------------------------------------------

namespace {

TraceMessage msg(uint32_t id, const std::string& table, const std::string& chain, HitKind kind,
                 std::optional<uint64_t> handle, std::optional<int32_t> verdict, bool packet = false) {
    TraceMessage m;
    m.family = 2;
    m.id = id;
    m.table = table;
    m.chain = chain;
    m.kind = kind;
    m.handle = handle;
    if (verdict) m.verdict = Verdict{*verdict, std::nullopt};
    if (kind == HitKind::Policy) m.policy = 1;
    if (packet) {
        m.packet.iif = 3;
        m.packet.network = {0x45, uint8_t(id)};
    }
    return m;
}

}  // namespace

TEST(NftTraceCorrelator, CarriesThePacketThroughOneCallAcrossInterleavedIds) {
    TraceCorrelator c;
    auto a1 = c.add(msg(1, "filter", "INPUT", HitKind::Rule, 3, -3, true));
    auto b1 = c.add(msg(2, "filter", "INPUT", HitKind::Rule, 3, -3, true));
    auto a2 = c.add(msg(1, "filter", "BLOCK", HitKind::Return, std::nullopt, -1));
    auto b2 = c.add(msg(2, "filter", "BLOCK", HitKind::Rule, 4, 0));  // drop: ends call 2
    auto a3 = c.add(msg(1, "filter", "INPUT", HitKind::Return, std::nullopt, -1));
    auto a4 = c.add(msg(1, "filter", "INPUT", HitKind::Policy, std::nullopt, std::nullopt));

    EXPECT_TRUE(a1.call_start);
    EXPECT_TRUE(b1.call_start);
    EXPECT_FALSE(a2.call_start);
    ASSERT_TRUE(a1.packet && b1.packet);
    EXPECT_EQ(a2.packet, a1.packet);  // the same object
    EXPECT_EQ(a3.packet, a1.packet);
    EXPECT_EQ(a4.packet, a1.packet);
    EXPECT_EQ(b2.packet, b1.packet);
    EXPECT_NE(a1.packet, b1.packet);
    EXPECT_EQ(b2.packet->network[1], 2);
    EXPECT_TRUE(b2.msg.packet.empty());  // the message itself stays as sent

    EXPECT_EQ(a2.index_in_call, 1u);
    EXPECT_EQ(a4.index_in_call, 3u);
    EXPECT_EQ(a2.base_chain, "INPUT");
    EXPECT_FALSE(a2.base_chain_end);  // BLOCK's end: back to INPUT
    EXPECT_TRUE(a3.base_chain_end);   // INPUT's end: the policy follows
    EXPECT_TRUE(b2.call_end);
    EXPECT_FALSE(a3.call_end);
    EXPECT_TRUE(a4.call_end);
    EXPECT_EQ(c.open_calls(), 0u);
    EXPECT_EQ(c.stats().calls, 2u);
    EXPECT_EQ(c.stats().messages, 6u);
}

TEST(NftTraceCorrelator, NextBaseChainOfTheSamePacketIsANewCall) {
    TraceCorrelator c;
    auto pre = c.add(msg(9, "itr_mark", "pre", HitKind::Rule, 3, -1, true));
    auto pol = c.add(msg(9, "itr_mark", "pre", HitKind::Policy, std::nullopt, std::nullopt));
    auto in = c.add(msg(9, "filter", "INPUT", HitKind::Rule, 3, -3, true));
    EXPECT_TRUE(pol.call_end);
    EXPECT_TRUE(in.call_start);
    EXPECT_NE(in.packet, pre.packet);
    // A new packet info for an open id starts a new call too.
    auto again = c.add(msg(9, "filter", "INPUT", HitKind::Rule, 3, -3, true));
    EXPECT_TRUE(again.call_start);
    EXPECT_EQ(again.index_in_call, 0u);
    // Another table under the same id without packet info: a call whose start was not seen.
    auto other = c.add(msg(9, "nat", "X", HitKind::Rule, 5, -1));
    EXPECT_TRUE(other.call_start);
    EXPECT_FALSE(other.packet);
    EXPECT_EQ(other.base_chain, "");
    EXPECT_EQ(c.stats().calls_without_packet, 1u);
}

TEST(NftTraceCorrelator, OpenCallsAreBounded) {
    TraceCorrelator c(2);
    c.add(msg(1, "f", "INPUT", HitKind::Rule, 1, -1, true));
    c.add(msg(2, "f", "INPUT", HitKind::Rule, 1, -1, true));
    c.add(msg(1, "f", "INPUT", HitKind::Rule, 2, -1));  // 1 is now the most recent
    c.add(msg(3, "f", "INPUT", HitKind::Rule, 1, -1, true));  // evicts 2
    EXPECT_EQ(c.open_calls(), 2u);
    EXPECT_EQ(c.stats().evicted, 1u);
    EXPECT_TRUE(c.add(msg(1, "f", "INPUT", HitKind::Rule, 3, -1)).packet);
    EXPECT_FALSE(c.add(msg(2, "f", "INPUT", HitKind::Rule, 2, -1)).packet);
}

// ---- captured messages -------------------------------------------------------------

namespace {

// One `nft monitor trace` record: "trace id ID FAMILY TABLE CHAIN WHAT", where
// WHAT may run over several lines (a comment holding a newline).
struct MonitorLine {
    std::string id, family, table, chain, what;
};

std::vector<MonitorLine> read_monitor(const std::string& path) {
    std::vector<MonitorLine> out;
    std::istringstream in(itr::nft::testing::read_text(path));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("trace id ", 0) != 0) {
            if (!out.empty()) out.back().what += "\n" + line;
            continue;
        }
        std::istringstream f(line.substr(9));
        MonitorLine m;
        f >> m.id >> m.family >> m.table >> m.chain;
        std::getline(f, m.what);
        if (!m.what.empty() && m.what[0] == ' ') m.what.erase(0, 1);
        out.push_back(m);
    }
    return out;
}

std::string family_text(uint8_t f) {
    switch (f) {
    case 1: return "inet";
    case 2: return "ip";
    case 10: return "ip6";
    default: return std::to_string(f);
    }
}

std::string nft_verdict_text(const Verdict& v) {
    std::string s = verdict_name(v.code);
    for (char& ch : s) ch = char(std::tolower(ch));
    if (v.chain) s += " " + *v.chain;
    return s;
}

std::string addr_text(const std::vector<uint8_t>& net, bool src) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (net.size() >= 20 && (net[0] >> 4) == 4) inet_ntop(AF_INET, net.data() + (src ? 12 : 16), buf, sizeof buf);
    if (net.size() >= 40 && (net[0] >> 4) == 6) inet_ntop(AF_INET6, net.data() + (src ? 8 : 24), buf, sizeof buf);
    return buf;
}

}  // namespace

// Each kernel's own captures (data/nft-trace/<kernel>/), each checked against
// the `nft monitor trace` that ran beside it. The forms differ by kernel:
//   up to 6.6  a chain's end is TYPE=RETURN, verdict continue, no handle; an
//              explicit `return` is TYPE=RETURN with its handle; nft monitor
//              prints both as "verdict continue|return" and no packet line;
//   since 6.7  both are TYPE=RULE (the end without a handle, which nft
//              monitor does not print);
//   since 6.16 messages of a packet with a conntrack entry carry CT_*.
class NftTraceOnKernel : public ::testing::TestWithParam<std::string> {
protected:
    const std::string& kernel() const { return GetParam(); }
    bool rule_form() const { return itr::nft::testing::kernel_at_least(kernel(), 6, 7); }
    TraceType end_type() const { return rule_form() ? TraceType::Rule : TraceType::Return; }
    std::vector<std::vector<uint8_t>> trace(const std::string& scenario) const {
        return itr::nft::testing::read_hex_messages(itr::nft::testing::kernel_file(kernel(), scenario + ".trace.hex"));
    }
    std::vector<TraceRecord> records(const std::string& scenario) const {
        TraceCorrelator c;
        std::vector<TraceRecord> out;
        for (const auto& b : trace(scenario)) out.push_back(c.add(decode_ok(b)));
        return out;
    }
};

// The kernels of scripts/vm/kernels.conf and the host's: a directory lost
// would otherwise just run fewer instances.
TEST(NftTraceFixtures, EveryKernelOfTheMatrixIsCaptured) {
    const auto dirs = itr::nft::testing::kernel_dirs();
    EXPECT_EQ(dirs, (std::vector<std::string>{"5.10", "6.1", "6.12", "6.18"}));
}

INSTANTIATE_TEST_SUITE_P(Captured, NftTraceOnKernel, ::testing::ValuesIn(itr::nft::testing::kernel_dirs()),
                         itr::nft::testing::kernel_param_name);

TEST_P(NftTraceOnKernel, EveryMessageDecodesAndAgreesWithNftMonitor) {
    std::vector<std::filesystem::path> files;
    for (const auto& p : itr::nft::testing::hex_fixtures())
        if (p.parent_path().filename() == kernel()) files.push_back(p);
    ASSERT_EQ(files.size(), 4u);
    // How often each form of a rule-less or return message was seen.
    size_t return_end = 0, return_explicit = 0, rule_end = 0, rule_explicit_return = 0;
    for (const auto& path : files) {
        SCOPED_TRACE(path.string());
        auto msgs = itr::nft::testing::read_hex_messages(path);
        ASSERT_FALSE(msgs.empty());
        const std::string base = path.string().substr(0, path.string().size() - std::string(".trace.hex").size());
        auto monitor = read_monitor(base + ".monitor.txt");
        ASSERT_FALSE(monitor.empty());
        // What nft monitor (1.0.6) prints for each message: a packet line for
        // one that carries the headers (whatever its type), then "rule ...
        // (verdict v)" for a RULE with a handle, "verdict v " for a RETURN,
        // "policy p " for a POLICY, and nothing for a RULE without a handle.
        size_t at = 0;
        TraceCorrelator corr;
        for (const auto& bytes : msgs) {
            auto r = decode_trace_message(bytes);
            ASSERT_TRUE(r.ok()) << r.error().what;
            TraceRecord rec = corr.add(*r);
            const TraceMessage& m = rec.msg;
            char id[16];
            std::snprintf(id, sizeof id, "%08x", m.id);
            auto expect_line = [&](const std::string& prefix) -> const MonitorLine* {
                if (at >= monitor.size()) {
                    ADD_FAILURE() << "monitor ended; expected " << prefix;
                    return nullptr;
                }
                const MonitorLine& l = monitor[at++];
                EXPECT_EQ(l.id, id);
                EXPECT_EQ(l.family, family_text(m.family));
                EXPECT_EQ(l.table, m.table);
                EXPECT_EQ(l.chain, m.chain);
                EXPECT_EQ(l.what.rfind(prefix, 0), 0u) << l.what;
                return &l;
            };
            // The headers come in the first message of each chain call only,
            // cut at 20, 40 and 20 bytes; conntrack attributes since 6.16.
            EXPECT_EQ(rec.call_start, !m.packet.empty());
            EXPECT_LE(m.packet.ll.size(), 20u);
            EXPECT_LE(m.packet.network.size(), 40u);
            EXPECT_LE(m.packet.transport.size(), 20u);
            if (!itr::nft::testing::kernel_at_least(kernel(), 6, 16)) {
                EXPECT_TRUE(m.ct.empty());
            }
            if (!m.packet.empty()) {
                if (const MonitorLine* l = expect_line("packet: ")) {
                    const bool v6 = m.nfproto == 10u;
                    const std::string p = v6 ? "ip6" : "ip";
                    EXPECT_NE(l->what.find(p + " saddr " + addr_text(m.packet.network, true) + " "), std::string::npos)
                        << l->what;
                    EXPECT_NE(l->what.find(p + " daddr " + addr_text(m.packet.network, false) + " "), std::string::npos)
                        << l->what;
                }
            }
            // Later messages of the call get the first one's packet.
            ASSERT_TRUE(rec.packet);
            EXPECT_FALSE(rec.packet->network.empty());
            switch (m.type) {
            case TraceType::Policy:
                EXPECT_EQ(m.kind, HitKind::Policy);
                EXPECT_FALSE(m.handle);
                EXPECT_FALSE(m.verdict);
                ASSERT_TRUE(m.policy);
                if (const MonitorLine* l = expect_line("policy ")) {
                    EXPECT_EQ(l->what, std::string("policy ") + (*m.policy == 1 ? "accept " : "drop "));
                }
                EXPECT_TRUE(rec.call_end);
                break;
            case TraceType::Return:
                ASSERT_TRUE(m.verdict);
                if (const MonitorLine* l = expect_line("verdict ")) {
                    EXPECT_EQ(l->what, "verdict " + nft_verdict_text(*m.verdict) + " ");
                }
                if (m.handle) {
                    EXPECT_EQ(m.kind, HitKind::Rule);
                    EXPECT_EQ(m.verdict->code, verdict_code::Return);
                    ++return_explicit;
                } else {
                    EXPECT_EQ(m.kind, HitKind::Return);
                    EXPECT_EQ(m.verdict->code, verdict_code::Continue);
                    ++return_end;
                }
                break;
            case TraceType::Rule:
                if (m.handle) {
                    EXPECT_EQ(m.kind, HitKind::Rule);
                    if (const MonitorLine* l = expect_line("rule ")) {
                        const std::string tail = "(verdict " + nft_verdict_text(*m.verdict) + ")";
                        EXPECT_EQ(l->what.substr(l->what.size() - std::min(l->what.size(), tail.size())), tail);
                    }
                    if (m.verdict->code == verdict_code::Return) ++rule_explicit_return;
                } else {
                    EXPECT_EQ(m.kind, HitKind::Return);
                    EXPECT_EQ(m.verdict->code, verdict_code::Continue);
                    ++rule_end;
                }
                break;
            }
        }
        EXPECT_EQ(at, monitor.size()) << "monitor lines not matched by a message";
        EXPECT_EQ(corr.stats().calls_without_packet, 0u);
        EXPECT_EQ(corr.open_calls(), 0u) << "every captured call ends with a policy or a terminal verdict";
    }
    // Each kernel sends one form of each, and the scenarios make both.
    if (rule_form()) {
        EXPECT_EQ(return_end + return_explicit, 0u);
        EXPECT_GT(rule_end, 0u);
        EXPECT_GT(rule_explicit_return, 0u);
    } else {
        EXPECT_EQ(rule_end + rule_explicit_return, 0u);
        EXPECT_GT(return_end, 0u);
        EXPECT_GT(return_explicit, 0u);
    }
}

TEST_P(NftTraceOnKernel, IptablesNftUserChain) {
    // Issue 11's example: ping from 10.77.0.2 dropped in BLOCK, from 10.77.0.3
    // BLOCK falls through to INPUT's policy.
    const auto r = records("ipt-input-user-chain");
    ASSERT_EQ(r.size(), 12u);
    // First packet: the marking table (its rule, its end, its policy), then
    // filter INPUT -> BLOCK -> DROP.
    EXPECT_EQ(r[0].msg.table, "itr_mark");
    EXPECT_EQ(r[1].msg.kind, HitKind::Return);
    EXPECT_EQ(r[1].msg.type, end_type());
    EXPECT_TRUE(r[1].base_chain_end);
    EXPECT_EQ(r[2].msg.kind, HitKind::Policy);
    const TraceRecord& jump = r[3];
    EXPECT_EQ(jump.msg.family, 2);
    EXPECT_EQ(jump.msg.table, "filter");
    EXPECT_EQ(jump.msg.chain, "INPUT");
    EXPECT_EQ(jump.msg.handle, itr::nft::testing::dumped_handle(kernel(), "ipt-input-user-chain", 2, "filter", "INPUT", 1));
    EXPECT_EQ(jump.msg.verdict->code, verdict_code::Jump);
    EXPECT_EQ(jump.msg.verdict->chain, "BLOCK");
    EXPECT_EQ(jump.msg.packet.iiftype, 1);
    EXPECT_EQ(jump.msg.packet.ll.size(), 14u);
    EXPECT_EQ(jump.msg.packet.network.size(), 20u);
    const TraceRecord& drop = r[4];
    EXPECT_EQ(drop.msg.chain, "BLOCK");
    EXPECT_EQ(drop.msg.handle, itr::nft::testing::dumped_handle(kernel(), "ipt-input-user-chain", 2, "filter", "BLOCK", 1));
    EXPECT_EQ(drop.msg.verdict->code, verdict_code::Drop);
    EXPECT_TRUE(drop.call_end);
    EXPECT_EQ(drop.base_chain, "INPUT");
    ASSERT_TRUE(drop.packet);
    EXPECT_EQ(addr_text(drop.packet->network, true), "10.77.0.2");
    EXPECT_EQ(drop.msg.id, jump.msg.id);
    // Second packet: BLOCK's end, INPUT's end, INPUT's policy accept.
    EXPECT_EQ(r[9].msg.chain, "BLOCK");
    EXPECT_EQ(r[9].msg.type, end_type());
    EXPECT_EQ(r[9].msg.kind, HitKind::Return);
    EXPECT_FALSE(r[9].msg.handle);
    EXPECT_FALSE(r[9].base_chain_end);
    EXPECT_EQ(r[10].msg.type, end_type());
    EXPECT_TRUE(r[10].base_chain_end);
    EXPECT_EQ(r[11].msg.kind, HitKind::Policy);
    EXPECT_EQ(r[11].msg.policy, 1u);
    EXPECT_EQ(addr_text(r[11].packet->network, true), "10.77.0.3");
    EXPECT_NE(r[11].msg.id, drop.msg.id);
}

TEST_P(NftTraceOnKernel, ForwardExplicitReturnsAndConntrack) {
    const auto msgs = trace("ipt-forward-docker");
    ASSERT_EQ(msgs.size(), 20u);
    TraceMessage first = decode_ok(msgs[3]);
    EXPECT_EQ(first.chain, "FORWARD");
    EXPECT_TRUE(first.packet.oif);
    // Conntrack attributes since 6.16, in the original direction here.
    if (itr::nft::testing::kernel_at_least(kernel(), 6, 16)) {
        EXPECT_TRUE(first.ct.id);
        EXPECT_EQ(first.ct.direction, 0);
    } else {
        EXPECT_TRUE(first.ct.empty());
    }
    // `-j RETURN`: a rule with its handle, whatever the type it comes as.
    TraceMessage ret = decode_ok(msgs[4]);
    EXPECT_EQ(ret.chain, "DOCKER-USER");
    EXPECT_EQ(ret.type, end_type());
    EXPECT_EQ(ret.kind, HitKind::Rule);
    EXPECT_EQ(ret.handle, itr::nft::testing::dumped_handle(kernel(), "ipt-forward-docker", 2, "filter", "DOCKER-USER", 1));
    EXPECT_EQ(ret.verdict->code, verdict_code::Return);
    TraceMessage pol = decode_ok(msgs.back());
    EXPECT_EQ(pol.kind, HitKind::Policy);
    EXPECT_EQ(pol.policy, 0u);  // DROP
}

TEST_P(NftTraceOnKernel, MarkAppearsOnceSet) {
    bool saw = false;
    for (const auto& b : trace("inet-native")) {
        TraceMessage m = decode_ok(b);
        if (m.chain == "udp_ok") {
            EXPECT_EQ(m.mark, 7u);  // meta mark set 0x7 in that chain's first rule
            saw = true;
        } else {
            EXPECT_FALSE(m.mark) << m.chain;
        }
    }
    EXPECT_TRUE(saw);
}

// The id (jhash on 5.10, keyed siphash later; either way not recomputable)
// is the same in every chain call of one packet and differs between packets:
// what the correlator relies on, on every kernel.
TEST_P(NftTraceOnKernel, OneIdPerPacketAcrossItsChainCalls) {
    for (const char* sc : {"ipt-input-user-chain", "ipt-forward-docker", "inet-native", "ip6t-input-user-chain"}) {
        SCOPED_TRACE(sc);
        // The packet of each id, as the marking table (seen once per packet) saw it.
        std::map<uint32_t, std::string> packet_of;
        size_t packets = 0;
        auto key = [](const PacketInfo& p) {
            // Addresses and transport header: the TTL changes on the way through a router.
            std::string k = addr_text(p.network, true) + ">" + addr_text(p.network, false) + " ";
            if (p.network.size() >= 20 && (p.network[0] >> 4) == 4) k += std::to_string(p.network[4] << 8 | p.network[5]);
            return k + " " + std::string(p.transport.begin(), p.transport.end());
        };
        for (const auto& rec : records(sc)) {
            if (!rec.call_start) continue;
            ASSERT_TRUE(rec.packet);
            if (rec.msg.table == "itr_mark") {
                ++packets;
                EXPECT_TRUE(packet_of.emplace(rec.msg.id, key(*rec.packet)).second) << "id reused";
            } else {
                ASSERT_TRUE(packet_of.count(rec.msg.id)) << rec.msg.table << "/" << rec.msg.chain;
                EXPECT_EQ(packet_of[rec.msg.id], key(*rec.packet));
            }
        }
        EXPECT_EQ(packet_of.size(), packets);
        EXPECT_GE(packets, 2u);
    }
}

// ---- robustness: every truncation and random corruption ---------------------------

TEST(NftTraceFuzz, TruncationsAndByteFlipsNeverCrash) {
    std::mt19937 rng(11);
    size_t decoded = 0, rejected = 0;
    for (const auto& path : itr::nft::testing::hex_fixtures()) {
        for (const auto& full : itr::nft::testing::read_hex_messages(path)) {
            // Every prefix is shorter than nlmsg_len, or cuts the headers: an error.
            for (size_t n = 0; n < full.size(); ++n) {
                std::vector<uint8_t> cut(full.begin(), full.begin() + n);
                EXPECT_FALSE(decode_trace_message(cut).ok()) << path << " cut at " << n;
            }
            // The same with nlmsg_len made to match the cut: attributes end early.
            for (size_t n = 20; n < full.size(); ++n) {
                std::vector<uint8_t> cut(full.begin(), full.begin() + n);
                uint32_t len = uint32_t(n);
                std::memcpy(cut.data(), &len, 4);
                auto r = decode_trace_message(cut);
                (r.ok() ? decoded : rejected)++;
            }
            TraceCorrelator corr(8);
            for (int i = 0; i < 300; ++i) {
                std::vector<uint8_t> bad = full;
                const int flips = 1 + int(rng() % 4);
                for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= uint8_t(1u << (rng() % 8));
                auto r = decode_trace_message(bad);
                if (!r.ok()) {
                    ++rejected;
                    EXPECT_FALSE(r.error().what.empty());
                    continue;
                }
                ++decoded;
                EXPECT_FALSE(r->table.empty());
                EXPECT_FALSE(r->chain.empty());
                corr.add(std::move(*r));
            }
            EXPECT_LE(corr.open_calls(), 8u);
        }
    }
    // Both outcomes happen: the corruption is not all caught by one check.
    EXPECT_GT(decoded, 100u);
    EXPECT_GT(rejected, 100u);
}
