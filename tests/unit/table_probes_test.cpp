// The bpf backend's choice between fentry/fexit and kprobes for the table
// functions (choose_table_probes), and how it is said.
#include <gtest/gtest.h>

#include "table_probes.hpp"

namespace itr {
namespace {

TableProbeFacts modern()  // 6.1 / 6.12: module BTF for the table modules, no nf_tables loaded
{
    TableProbeFacts f;
    f.ipt = f.ip6t = true;
    f.ipt_btf = "ip_tables";
    f.ip6t_btf = "ip6_tables";
    return f;
}

TableProbeFacts with_nft(TableProbeFacts f)
{
    f.nft = true;
    f.nft_btf = "nf_tables";
    return f;
}

TEST(TableProbes, ModuleBtfForBothChoosesFentry)
{
    auto c = choose_table_probes(modern());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Fentry);
    EXPECT_FALSE(c->forced);
    EXPECT_EQ(describe(*c),
              "table calls via fentry/fexit (ipt_do_table in ip_tables BTF, ip6t_do_table in ip6_tables BTF)");
}

TEST(TableProbes, BuiltInTablesUseVmlinuxBtf)
{
    auto f = modern();
    f.ipt_btf = f.ip6t_btf = "vmlinux";
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Fentry);
    EXPECT_NE(c->reason.find("ipt_do_table in vmlinux BTF"), std::string::npos);
}

TEST(TableProbes, Debian510HasNoModuleBtfSoKprobes)
{
    auto f = modern();
    f.ipt_btf.reset();
    f.ip6t_btf.reset();
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Kprobes);
    EXPECT_EQ(describe(*c).rfind("table calls via kprobes: no BTF for ipt_do_table (neither vmlinux nor "
                                 "/sys/kernel/btf/ip_tables",
                                 0),
              0u)
        << describe(*c);
}

TEST(TableProbes, OneFunctionWithoutBtfMeansKprobesForBoth)
{
    auto f = modern();
    f.ip6t_btf.reset();
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Kprobes);
    EXPECT_NE(c->reason.find("ip6t_do_table"), std::string::npos);
    EXPECT_NE(c->reason.find("/sys/kernel/btf/ip6_tables"), std::string::npos);
}

TEST(TableProbes, MissingIp6TablesDoesNotBlockFentry)
{
    auto f = modern();
    f.ip6t = false;
    f.ip6t_btf.reset();
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Fentry);
    EXPECT_EQ(c->reason, "ipt_do_table in ip_tables BTF");
}

TEST(TableProbes, NoLegacyTablesAtAll)
{
    TableProbeFacts f;
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Kprobes);
    EXPECT_EQ(c->reason, "no table or chain function to follow");
}

TEST(TableProbes, NftDoChainJoinsTheChoice)
{
    auto c = choose_table_probes(with_nft(modern()));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Fentry);
    EXPECT_EQ(c->reason, "ipt_do_table in ip_tables BTF, ip6t_do_table in ip6_tables BTF, nft_do_chain in "
                         "nf_tables BTF");
}

TEST(TableProbes, NfTablesWithoutBtfMeansKprobesForAll)
{
    auto f = with_nft(modern());
    f.nft_btf.reset();
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Kprobes);
    EXPECT_NE(c->reason.find("no BTF for nft_do_chain (neither vmlinux nor /sys/kernel/btf/nf_tables"),
              std::string::npos)
        << c->reason;
}

TEST(TableProbes, OnlyNfTablesStillChoosesFentry)
{
    TableProbeFacts f = with_nft({});
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Fentry);
    EXPECT_EQ(c->reason, "nft_do_chain in nf_tables BTF");
}

TEST(TableProbes, ForcedKprobesWinsOverBtf)
{
    auto f = modern();
    f.forced = "kprobes";
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Kprobes);
    EXPECT_TRUE(c->forced);
    EXPECT_EQ(describe(*c), "table calls via kprobes: ITR_TABLE_PROBES=kprobes");
}

TEST(TableProbes, ForcedFentryWithBtfIsForced)
{
    auto f = modern();
    f.forced = "fentry";
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Fentry);
    EXPECT_TRUE(c->forced);
}

TEST(TableProbes, ForcedFentryWithoutBtfIsAnError)
{
    auto f = modern();
    f.ipt_btf.reset();
    f.forced = "fentry";
    auto c = choose_table_probes(f);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().what.rfind("ITR_TABLE_PROBES=fentry: no BTF for ipt_do_table", 0), 0u) << c.error().what;
}

TEST(TableProbes, AutoAndEmptyChooseAndUnknownIsAnError)
{
    auto f = modern();
    f.forced = "auto";
    auto c = choose_table_probes(f);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, TableProbes::Fentry);
    EXPECT_FALSE(c->forced);
    f.forced = "kprobe";
    auto bad = choose_table_probes(f);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().what, "ITR_TABLE_PROBES=kprobe: unknown value");
}

TEST(TableProbes, RefusedFentryFallsBackWithBothReasons)
{
    auto c = choose_table_probes(modern());
    ASSERT_TRUE(c);
    auto k = kprobes_after(*c, "fentry refused: attaching fentry_ipt_do_table: Operation not supported");
    EXPECT_EQ(k.how, TableProbes::Kprobes);
    EXPECT_FALSE(k.forced);
    EXPECT_EQ(describe(k), "table calls via kprobes: fentry refused: attaching fentry_ipt_do_table: Operation not "
                           "supported (ipt_do_table in ip_tables BTF, ip6t_do_table in ip6_tables BTF)");
}

}  // namespace
}  // namespace itr
