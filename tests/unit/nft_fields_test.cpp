// The fields of nft rule lines (nft_fields.hpp), and the whole pure pipeline
// on captured bytes: decode -> correlate -> rule text (NftRuleText over the
// captured listing, dump and iptables-nft-save) -> fields, golden.
#include <gtest/gtest.h>

#include "iptables_trace/nft_fields.hpp"
#include "iptables_trace/nft_rules.hpp"
#include "nft_test_util.hpp"

using namespace itr;
using namespace itr::nft;
namespace t = itr::nft::testing;

namespace {

std::string line_of(const NftLineFields& f) {
    std::string s;
    for (const auto& [k, v] : f.fields) s += (s.empty() ? "" : " ") + k + "=" + v;
    if (f.rule) s += std::string(f.rule_stale ? " rule?=\"" : " rule=\"") + *f.rule + "\"";
    return s;
}

// The captured state of one scenario's netns as a ruleset source.
class CapturedSource : public NftRulesetSource {
public:
    CapturedSource(const std::string& kernel, const std::string& scenario) {
        const std::string dir = t::kernel_file(kernel, scenario);
        auto msgs = t::read_hex_messages(dir + ".dump.hex");
        snap_.generation = *decode_gen_message(msgs.at(0));
        for (size_t i = 1; i < msgs.size(); ++i) snap_.order.add(*decode_rule_message(msgs[i]));
        snap_.listing = t::read_text(dir + ".ruleset.txt");
        for (auto [name, save] : {std::pair{".ipt4.save", &snap_.ipt4}, std::pair{".ipt6.save", &snap_.ipt6}})
            if (std::filesystem::exists(dir + name)) save->text = t::read_text(dir + name);
    }
    uint64_t now_ns() override { return ++now_; }
    uint32_t own_netns() override { return 1; }
    Result<uint32_t> generation(uint32_t) override { return snap_.generation; }
    Result<NftSnapshot> read(uint32_t) override { return snap_; }

private:
    NftSnapshot snap_;
    uint64_t now_ = 0;
};

std::vector<std::string> pipeline(const std::string& kernel, const std::string& scenario) {
    NftRuleText text(std::make_unique<CapturedSource>(kernel, scenario));
    TraceCorrelator corr;
    std::vector<std::string> out;
    for (const auto& bytes : t::read_hex_messages(t::kernel_file(kernel, scenario + ".trace.hex"))) {
        auto m = decode_trace_message(bytes);
        EXPECT_TRUE(m.ok());
        if (!m.ok()) continue;
        TraceRecord rec = corr.add(std::move(*m));
        text.lookup(rec, 1, 0);
        if (rec.base_chain_end) continue;  // the policy line follows
        out.push_back(line_of(nft_line_fields(rec)));
    }
    return out;
}

// The same lines from every kernel's bytes: the scripts make the same
// rulesets (same handles), and each kernel's forms of a chain's end and of
// an explicit return give the same fields.
class NftFieldsOnKernel : public ::testing::TestWithParam<std::string> {};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Captured, NftFieldsOnKernel, ::testing::ValuesIn(t::kernel_dirs()), t::kernel_param_name);

TEST_P(NftFieldsOnKernel, IptablesNftUserChainGolden) {
    const std::string mark = "ip saddr { 10.77.0.2, 10.77.0.3 } icmp type echo-request meta nftrace set 1";
    // The filter table's handles are the kernel's (3 and 4 on 6.18, 7 and 8 on 5.10).
    const std::string jump = std::to_string(t::dumped_handle(GetParam(), "ipt-input-user-chain", 2, "filter", "INPUT", 1));
    const std::string drop = std::to_string(t::dumped_handle(GetParam(), "ipt-input-user-chain", 2, "filter", "BLOCK", 1));
    std::vector<std::string> want = {
        // 10.77.0.2: INPUT -> BLOCK -> DROP
        "family=inet table=itr_mark chain=pre rulenum=1 handle=3 verdict=CONTINUE rule=\"" + mark + "\"",
        "family=inet table=itr_mark chain=pre rulenum=policy verdict=ACCEPT rule=\"policy accept\"",
        "family=ip table=filter chain=INPUT rulenum=1 handle=" + jump + " verdict=JUMP:BLOCK rule=\"-A INPUT -p icmp -j BLOCK\"",
        "family=ip table=filter chain=BLOCK rulenum=1 handle=" + drop + " verdict=DROP rule=\"-A BLOCK -s 10.77.0.2/32 -j DROP\"",
        // 10.77.0.3: BLOCK returns, INPUT's policy
        "family=inet table=itr_mark chain=pre rulenum=1 handle=3 verdict=CONTINUE rule=\"" + mark + "\"",
        "family=inet table=itr_mark chain=pre rulenum=policy verdict=ACCEPT rule=\"policy accept\"",
        "family=ip table=filter chain=INPUT rulenum=1 handle=" + jump + " verdict=JUMP:BLOCK rule=\"-A INPUT -p icmp -j BLOCK\"",
        "family=ip table=filter chain=BLOCK rulenum=return verdict=RETURN rule=\"return\"",
        "family=ip table=filter chain=INPUT rulenum=policy verdict=ACCEPT rule=\"policy ACCEPT\"",
    };
    EXPECT_EQ(pipeline(GetParam(), "ipt-input-user-chain"), want);
}

TEST_P(NftFieldsOnKernel, NativeTableGolden) {
    auto got = pipeline(GetParam(), "inet-native");
    auto has = [&](const std::string& line) { return std::find(got.begin(), got.end(), line) != got.end(); };
    EXPECT_TRUE(has("family=inet table=itr_fw chain=input rulenum=2 handle=9 verdict=JUMP:icmp_in "
                    "rule=\"meta l4proto { icmp, ipv6-icmp } counter jump icmp_in comment \"icmp # handle 99\"\""));
    // icmp_in's listing holds a faked handle: the number, no text.
    EXPECT_TRUE(has("family=inet table=itr_fw chain=icmp_in rulenum=1 handle=12 verdict=CONTINUE"));
    EXPECT_TRUE(has("family=inet table=itr_fw chain=icmp_in rulenum=2 handle=13 verdict=RETURN"));
    EXPECT_FALSE(has("family=inet table=itr_fw chain=input rulenum=return verdict=RETURN rule=\"return\""));
    EXPECT_TRUE(has("family=inet table=itr_fw chain=input rulenum=policy verdict=DROP rule=\"policy drop\""));
    EXPECT_TRUE(has("family=inet table=itr_fw chain=input rulenum=3 handle=10 verdict=GOTO:udp_reject "
                    "rule=\"udp dport vmap @udp_verdicts\""));
    EXPECT_TRUE(has("family=inet table=itr_fw chain=udp_reject rulenum=1 handle=18 verdict=DROP rule=\"counter reject\""));
    EXPECT_TRUE(has("family=inet table=itr_fw chain=udp_ok rulenum=1 handle=16 verdict=CONTINUE "
                    "rule=\"meta mark set 0x00000007 counter\""));
    EXPECT_TRUE(has("family=inet table=itr_fw chain=input rulenum=1 handle=7 verdict=DROP "
                    "rule=\"ip saddr @blocked4 counter drop comment \"blocked by the set\"\""));
}

TEST_P(NftFieldsOnKernel, DockerForwardGolden) {
    const std::string mark = "family=inet table=itr_mark chain=pre rulenum=1 handle=3 verdict=CONTINUE "
                             "rule=\"ip saddr 10.77.0.2 udp dport { 7001, 7002 } meta nftrace set 1\"";
    const std::string accept = "family=inet table=itr_mark chain=pre rulenum=policy verdict=ACCEPT rule=\"policy accept\"";
    const std::vector<std::string> head = {
        mark,
        accept,
        "family=ip table=filter chain=FORWARD rulenum=1 handle=8 verdict=JUMP:DOCKER-USER rule=\"-A FORWARD -j DOCKER-USER\"",
        "family=ip table=filter chain=DOCKER-USER rulenum=1 handle=19 verdict=RETURN rule=\"-A DOCKER-USER -j RETURN\"",
        "family=ip table=filter chain=FORWARD rulenum=2 handle=9 verdict=JUMP:DOCKER-ISOLATION-STAGE-1 "
        "rule=\"-A FORWARD -j DOCKER-ISOLATION-STAGE-1\"",
        "family=ip table=filter chain=DOCKER-ISOLATION-STAGE-1 rulenum=2 handle=16 verdict=RETURN "
        "rule=\"-A DOCKER-ISOLATION-STAGE-1 -j RETURN\"",
        "family=ip table=filter chain=FORWARD rulenum=4 handle=11 verdict=JUMP:DOCKER rule=\"-A FORWARD -o rb -j DOCKER\"",
    };
    std::vector<std::string> want = head;
    // UDP 7001: DOCKER's rule accepts.
    want.push_back("family=ip table=filter chain=DOCKER rulenum=1 handle=14 verdict=ACCEPT "
                   "rule=\"-A DOCKER -d 10.77.0.130/32 ! -i rb -o rb -p udp -m udp --dport 7001 -j ACCEPT\"");
    // UDP 7002: DOCKER falls through, FORWARD's end (left out), the policy DROP.
    want.insert(want.end(), head.begin(), head.end());
    want.push_back("family=ip table=filter chain=DOCKER rulenum=return verdict=RETURN rule=\"return\"");
    want.push_back("family=ip table=filter chain=FORWARD rulenum=policy verdict=DROP rule=\"policy DROP\"");
    EXPECT_EQ(pipeline(GetParam(), "ipt-forward-docker"), want);
}

TEST(NftFields, VerdictSpellingsStaleAndUnknown) {
    TraceRecord r;
    r.msg.family = 10;
    r.msg.table = "filter";
    r.msg.chain = "INPUT";
    r.msg.kind = HitKind::Rule;
    r.msg.handle = 7;
    r.msg.verdict = Verdict{int32_t((5 << 16) | verdict_code::Queue), std::nullopt};
    NftLineFields f = nft_line_fields(r);
    EXPECT_EQ(line_of(f), "family=ip6 table=filter chain=INPUT rulenum=? handle=7 verdict=QUEUE:5");
    EXPECT_FALSE(f.rule);
    r.msg.verdict = Verdict{int32_t((1 << 16) | verdict_code::Drop), std::nullopt};  // drop with EPERM
    r.rulenum = 3;
    r.rule_text = "-A INPUT -m comment --comment \"a\nb\" -j DROP";
    r.rule_text_stale = true;
    EXPECT_EQ(line_of(nft_line_fields(r)),
              "family=ip6 table=filter chain=INPUT rulenum=3 handle=7 verdict=DROP "
              "rule?=\"-A INPUT -m comment --comment \"a\\nb\" -j DROP\"");
    r.msg.verdict = Verdict{verdict_code::Goto, std::string("other")};
    EXPECT_EQ(nft_line_fields(r).fields.back().second, "GOTO:other");
    r.msg.kind = HitKind::Policy;
    r.msg.policy = 0;
    r.msg.handle.reset();
    r.rule_text = "policy DROP";
    r.rule_text_stale = false;
    EXPECT_EQ(line_of(nft_line_fields(r)),
              "family=ip6 table=filter chain=INPUT rulenum=policy verdict=DROP rule=\"policy DROP\"");
    r.msg.family = 7;
    r.msg.kind = HitKind::Return;
    r.rule_text = "return";
    EXPECT_EQ(line_of(nft_line_fields(r)),
              "family=bridge table=filter chain=INPUT rulenum=return verdict=RETURN rule=\"return\"");
}
