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

    // The module is x86-64 only; on arm64 the bpf backend is the way out.
    f = good_facts();
    f.machine = "aarch64";
    EXPECT_EQ(fatal_name(f), "arch");
    EXPECT_NE(fatal_detail(f).find("x86-64 only"), std::string::npos) << fatal_detail(f);
    EXPECT_NE(fatal_detail(f).find("--backend bpf"), std::string::npos) << fatal_detail(f);
    f.machine = "riscv64";
    EXPECT_EQ(fatal_name(f), "arch");
    EXPECT_NE(fatal_detail(f).find("--backend netlink"), std::string::npos);
    EXPECT_EQ(fatal_detail(f).find("--backend bpf"), std::string::npos) << fatal_detail(f);

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
    EXPECT_NE(fatal_detail(f).find("--kmod"), std::string::npos);
}

TEST(Preflight, ArmMachineGetsNoRebuildAdvice)
{
    // An aarch64 build embeds no module (kmod/CMakeLists.txt): --check's
    // module line must not send anyone to rebuild with kernel headers.
    auto f = good_facts();
    f.machine = "aarch64";
    f.have_module_image = false;
    bool seen = false;
    for (const auto& c : evaluate_module_preflight(f))
        if (c.name == "module") {
            seen = true;
            EXPECT_FALSE(c.ok);
            EXPECT_NE(c.detail.find("none for aarch64"), std::string::npos) << c.detail;
            EXPECT_NE(c.hint.find("--backend bpf"), std::string::npos) << c.hint;
            EXPECT_EQ(c.hint.find("linux-headers"), std::string::npos) << c.hint;
        }
    EXPECT_TRUE(seen);
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

// Which source answers "does this function exist": a sysfs witness or a
// loaded module first, BTF next, kallsyms only where BTF cannot tell.
TEST(SymbolAnswer, LoadedModuleCarriesItsFunction)
{
    SymbolEvidence e;  // ip_tables loaded, with or without module BTF (5.10)
    e.module_symbol = true;
    e.module_loaded = true;
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::Present);
}

TEST(SymbolAnswer, WitnessSettlesAVmlinuxFunction)
{
    SymbolEvidence e;  // the kprobe PMU for register_kprobe
    e.witness = true;
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::Present);
}

TEST(SymbolAnswer, ModulesBuiltinSettlesAnUnloadedModule)
{
    SymbolEvidence e;
    e.module_symbol = true;
    e.builtin = false;  // not loaded, not built in: no BTF parse needed
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::Absent);
    e.builtin = true;
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::Present);
}

TEST(SymbolAnswer, ModulesBuiltinParsing)
{
    const std::string text = "kernel/net/netfilter/x_tables.ko\nkernel/net/ipv4/netfilter/ip_tables.ko\n"
                             "kernel/drivers/foo-bar.ko\nkernel/net/netfilter/nf_tables_set.ko";
    EXPECT_TRUE(builtin_lists(text, "ip_tables"));
    EXPECT_TRUE(builtin_lists(text, "x_tables"));
    EXPECT_TRUE(builtin_lists(text, "foo_bar"));
    EXPECT_FALSE(builtin_lists(text, "nf_tables"));  // nf_tables_set.ko is another module
    EXPECT_FALSE(builtin_lists(text, "tables"));
    EXPECT_FALSE(builtin_lists("", "ip_tables"));
}

TEST(SymbolAnswer, WithoutCheapEvidenceAskBtfFirst)
{
    SymbolEvidence vm;
    EXPECT_EQ(answer_symbol(vm), SymbolAnswer::AskBtf);
    SymbolEvidence mod;
    mod.module_symbol = true;  // not loaded: perhaps built in
    EXPECT_EQ(answer_symbol(mod), SymbolAnswer::AskBtf);
}

TEST(SymbolAnswer, BtfPresenceSettlesIt)
{
    SymbolEvidence e;
    e.in_btf = true;
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::Present);
    e.module_symbol = true;  // built in
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::Present);
}

TEST(SymbolAnswer, ModuleNeitherLoadedNorBuiltInIsAbsent)
{
    SymbolEvidence e;
    e.module_symbol = true;
    e.in_btf = false;
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::Absent);
}

TEST(SymbolAnswer, VmlinuxFunctionMissingFromBtfAsksKallsyms)
{
    SymbolEvidence e;  // no kprobes, or pahole left the function out
    e.in_btf = false;
    EXPECT_EQ(answer_symbol(e), SymbolAnswer::AskKallsyms);
}

}  // namespace
}  // namespace itr
