#include <gtest/gtest.h>

#include "iptables_trace/preflight.hpp"

namespace itr {
namespace {

KernelFacts good_facts()
{
    KernelFacts f;
    f.release = "6.1.0-56-amd64";
    f.machine = "x86_64";
    f.is_root = true;
    f.vmlinux_btf = true;
    f.kprobes = Tri::Yes;
    f.modules = true;
    f.lockdown = "none";
    f.xt_trace = Tri::Yes;
    f.xtables_legacy = Tri::Yes;
    f.ipt_do_table = f.ip6t_do_table = f.nft_do_chain = f.nf_log_trace = true;
    f.have_module_image = true;
    f.module_vermagic = "6.1.0-56-amd64";
    return f;
}

std::string fatal_name(const KernelFacts& f)
{
    auto c = first_fatal(evaluate_module_preflight(f));
    return c ? c->name : "";
}

std::string fatal_detail(const KernelFacts& f)
{
    auto c = first_fatal(evaluate_module_preflight(f));
    return c ? c->detail + " | " + c->hint : "";
}

TEST(Preflight, AllPresentHasNoFatal) { EXPECT_EQ(fatal_name(good_facts()), ""); }

TEST(Preflight, EachMissingPieceIsNamed)
{
    auto f = good_facts();
    f.is_root = false;
    EXPECT_EQ(fatal_name(f), "root");

    f = good_facts();
    f.machine = "aarch64";
    EXPECT_EQ(fatal_name(f), "arch");
    EXPECT_NE(fatal_detail(f).find("--backend netlink"), std::string::npos);

    f = good_facts();
    f.vmlinux_btf = false;
    EXPECT_EQ(fatal_name(f), "btf");

    f = good_facts();
    f.kprobes = Tri::No;
    EXPECT_EQ(fatal_name(f), "kprobes");

    f = good_facts();
    f.modules = false;
    EXPECT_EQ(fatal_name(f), "modules");

    f = good_facts();
    f.modules_disabled = true;
    EXPECT_NE(fatal_detail(f).find("modules_disabled"), std::string::npos);

    f = good_facts();
    f.lockdown = "integrity";
    EXPECT_NE(fatal_detail(f).find("lockdown (integrity)"), std::string::npos);

    f = good_facts();
    f.sig_enforce = true;
    EXPECT_NE(fatal_detail(f).find("sig_enforce"), std::string::npos);

    f = good_facts();
    f.xt_trace = Tri::No;
    EXPECT_EQ(fatal_name(f), "trace");
}

TEST(Preflight, NoLegacyXtablesSaysSo)
{
    auto f = good_facts();
    f.ipt_do_table = false;
    f.xtables_legacy = Tri::No;
    EXPECT_EQ(fatal_name(f), "ipt_do_table");
    EXPECT_NE(fatal_detail(f).find("NETFILTER_XTABLES_LEGACY"), std::string::npos);

    f.xtables_legacy = Tri::Yes;
    EXPECT_NE(fatal_detail(f).find("modprobe ip_tables"), std::string::npos);
}

TEST(Preflight, ModuleForAnotherKernelIsRefused)
{
    auto f = good_facts();
    f.module_vermagic = "6.12.95+bpo-amd64";
    EXPECT_EQ(fatal_name(f), "module");
    EXPECT_NE(fatal_detail(f).find("built for kernel 6.12.95+bpo-amd64, this is 6.1.0-56-amd64"),
              std::string::npos);

    f = good_facts();
    f.have_module_image = false;
    EXPECT_NE(fatal_detail(f).find("carries no kernel module"), std::string::npos);
}

TEST(Preflight, MissingIpv6AndNftAreNotFatal)
{
    auto f = good_facts();
    f.ip6t_do_table = false;
    f.nft_do_chain = false;
    EXPECT_EQ(fatal_name(f), "");
    int warnings = 0;
    for (const auto& c : evaluate_module_preflight(f))
        warnings += !c.ok;
    EXPECT_EQ(warnings, 2);
}

}  // namespace
}  // namespace itr
