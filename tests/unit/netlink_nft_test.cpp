// The netlink backend's handling of nf_tables trace messages, fed with the
// bytes captured on each kernel (tests/unit/data/nft-trace/<kernel>): no socket.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <sstream>

#include "iptables_trace/format.hpp"
#include "iptables_trace/netlink_decode.hpp"
#include "iptables_trace/sink.hpp"
#include "nft_test_util.hpp"

using namespace itr;
using namespace itr::netlink;
using itr::nft::testing::dumped_handle;
using itr::nft::testing::MsgBuilder;
using itr::nft::testing::read_hex_messages;
using itr::nft::testing::read_text;

namespace {

DecodeContext ctx() {
    DecodeContext c;
    c.ifname = [](uint32_t i) { return "if" + std::to_string(i); };
    c.netns = 4026532246u;
    c.recv_mono_ns = 77;
    return c;
}

// The fixtures' own marking table stands in for the tool's.
std::vector<TraceEvent> feed(const std::string& kernel, const std::string& scenario, NftTraceHandler& h) {
    std::vector<TraceEvent> out;
    for (const auto& m : read_hex_messages(itr::nft::testing::kernel_file(kernel, scenario + ".trace.hex")))
        if (auto ev = h.handle(m, ctx())) out.push_back(std::move(*ev));
    return out;
}

// The first "ether daddr" that nft monitor printed beside the capture.
std::string monitor_dst_mac(const std::string& kernel, const std::string& scenario) {
    const std::string text = read_text(itr::nft::testing::kernel_file(kernel, scenario + ".monitor.txt"));
    const size_t at = text.find("ether daddr ");
    return at == std::string::npos ? "" : text.substr(at + 12, 17);
}

std::string mac_text(const std::array<uint8_t, 6>& m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

class NetlinkNftOnKernel : public ::testing::TestWithParam<std::string> {};

std::string info(const TraceEvent& ev) {
    std::string s;
    append_iptables_info(s, ev);
    return s;
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Captured, NetlinkNftOnKernel, ::testing::ValuesIn(itr::nft::testing::kernel_dirs()),
                         itr::nft::testing::kernel_param_name);

// The same events on every kernel, whichever form its chain ends take.
TEST_P(NetlinkNftOnKernel, IptablesNftUserChainFromCapturedBytes) {
    NftTraceHandler h("itr_mark");
    const auto evs = feed(GetParam(), "ipt-input-user-chain", h);
    std::vector<std::string> lines;
    for (const auto& ev : evs) lines.push_back(info(ev));
    // 10.77.0.2: INPUT jumps to BLOCK, which drops it; 10.77.0.3: BLOCK
    // ends (back to INPUT), INPUT's policy accepts. The base chain's own
    // end is left out (its policy follows); the marking table is not shown.
    const std::string jump = std::to_string(dumped_handle(GetParam(), "ipt-input-user-chain", 2, "filter", "INPUT", 1));
    const std::string drop = std::to_string(dumped_handle(GetParam(), "ipt-input-user-chain", 2, "filter", "BLOCK", 1));
    const std::vector<std::string> want = {
        "nfttrace=[family=ip table=filter chain=INPUT rulenum=? handle=" + jump + " verdict=JUMP:BLOCK]",
        "nfttrace=[family=ip table=filter chain=BLOCK rulenum=? handle=" + drop + " verdict=DROP]",
        "nfttrace=[family=ip table=filter chain=INPUT rulenum=? handle=" + jump + " verdict=JUMP:BLOCK]",
        "nfttrace=[family=ip table=filter chain=BLOCK rulenum=return verdict=RETURN]",
        "nfttrace=[family=ip table=filter chain=INPUT rulenum=policy verdict=ACCEPT]",
    };
    EXPECT_EQ(lines, want);
    EXPECT_EQ(h.stats().malformed, 0u);
    EXPECT_GT(h.stats().own, 0u);
    EXPECT_EQ(h.stats().events, want.size());
    ASSERT_EQ(evs.size(), want.size());
    const TraceEvent& first = evs[0];
    EXPECT_EQ(first.kind, EventKind::NftRule);
    EXPECT_EQ(first.base_chain, "INPUT");
    EXPECT_FALSE(first.hook_unknown);
    EXPECT_EQ(first.hook, 1u);  // INPUT
    EXPECT_TRUE(first.in_dev.starts_with("if")) << first.in_dev;  // the ifindex, named by ctx
    EXPECT_EQ(first.out_dev, "");
    EXPECT_EQ(first.pkt.ifname, first.in_dev);
    EXPECT_EQ(first.pkt.netns, 4026532246u);
    EXPECT_EQ(first.mono_ns, 77u);
    EXPECT_EQ(pkt_info(first.pkt), "I_request:10.77.0.2->10.77.0.1");
    EXPECT_EQ(first.pkt.ip_len, 84u);
    EXPECT_EQ(first.pkt.icmp_id, 7701u);
    EXPECT_EQ(first.pkt.icmp_seq, 1u);
    ASSERT_TRUE(first.pkt.dst_mac);
    EXPECT_EQ(mac_text(*first.pkt.dst_mac), monitor_dst_mac(GetParam(), "ipt-input-user-chain"));
    // Every event of a call carries the call's packet, also a user chain's.
    EXPECT_EQ(pkt_info(evs[1].pkt), "I_request:10.77.0.2->10.77.0.1");
    EXPECT_EQ(evs[1].base_chain, "INPUT");
    EXPECT_EQ(pkt_info(evs[4].pkt), "I_request:10.77.0.3->10.77.0.1");
    EXPECT_EQ(evs[4].pkt.icmp_id, 7702u);
}

TEST_P(NetlinkNftOnKernel, EveryCapturedScenarioGivesEventsAndNoMalformed) {
    for (const char* sc : {"inet-native", "ip6t-input-user-chain", "ipt-forward-docker", "ipt-input-user-chain"}) {
        NftTraceHandler h("itr_mark");
        const auto evs = feed(GetParam(), sc, h);
        EXPECT_FALSE(evs.empty()) << sc;
        EXPECT_EQ(h.stats().malformed, 0u) << sc;
        for (const auto& ev : evs) {
            EXPECT_NE(ev.table, "itr_mark") << sc;
            EXPECT_TRUE(ev.pkt.ip_version == 4 || ev.pkt.ip_version == 6) << sc << " " << info(ev);
        }
    }
}

TEST_P(NetlinkNftOnKernel, Ipv6AndNativeTable) {
    NftTraceHandler h("itr_mark");
    const auto v6 = feed(GetParam(), "ip6t-input-user-chain", h);
    ASSERT_FALSE(v6.empty());
    EXPECT_EQ(v6[0].pf, 10u);
    EXPECT_EQ(v6[0].pkt.ip_version, 6);
    EXPECT_FALSE(v6[0].hook_unknown);
    NftTraceHandler n("itr_mark");
    const auto native = feed(GetParam(), "inet-native", n);
    ASSERT_FALSE(native.empty());
    EXPECT_EQ(native[0].pf, 1u);
    EXPECT_TRUE(native[0].hook_unknown);  // a native chain's name says nothing of its hook
}

TEST_P(NetlinkNftOnKernel, MalformedAndForeignMessagesAreCountedNeverFatal) {
    NftTraceHandler h("iptables_trace");
    const auto good = read_hex_messages(itr::nft::testing::kernel_file(GetParam(), "ipt-input-user-chain.trace.hex"));
    ASSERT_FALSE(good.empty());
    // Every truncation of a real message.
    for (size_t n = 0; n < good[0].size(); ++n) {
        std::vector<uint8_t> cut(good[0].begin(), good[0].begin() + long(n));
        (void)h.handle(cut, ctx());
    }
    EXPECT_GE(h.stats().malformed, good[0].size() - 1);
    // The tool's own table (inet iptables_trace) is not shown.
    auto own = MsgBuilder(1).trace(3, 1, "iptables_trace", "prerouting").verdict(-1).done();
    const uint64_t own_before = h.stats().own;
    EXPECT_FALSE(h.handle(own, ctx()));
    EXPECT_EQ(h.stats().own, own_before + 1);
}

TEST_P(NetlinkNftOnKernel, ColumnLineOfACapturedEvent) {
    NftTraceHandler h("itr_mark");
    auto evs = feed(GetParam(), "ipt-input-user-chain", h);
    ASSERT_GE(evs.size(), 2u);
    TraceEvent ev = evs[1];
    ev.rulenum = 1;
    ev.rule_text = "-A BLOCK -s 10.77.0.2/32 -j DROP";
    std::ostringstream out;
    SinkOptions so;
    so.header = false;
    make_column_sink(out, so)->event(ev);
    const std::string line = out.str();
    EXPECT_NE(line.find(" I_request:10.77.0.2->10.77.0.1 "), std::string::npos) << line;
    const std::string drop = std::to_string(dumped_handle(GetParam(), "ipt-input-user-chain", 2, "filter", "BLOCK", 1));
    EXPECT_NE(line.find("nfttrace=[family=ip table=filter chain=BLOCK rulenum=1 handle=" + drop + " verdict=DROP] "
                        "rule=\"-A BLOCK -s 10.77.0.2/32 -j DROP\"\n"),
              std::string::npos)
        << line;
}
