// How the module backend follows nft_do_chain (choose_module_nft): what
// ITR_TABLE_PROBES asks for, and nothing without the function. Whether
// fentry is taken depends on /sys/kernel/btf/nf_tables, so that case is
// checked against the file itself.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include "module_bpf.hpp"

namespace itr {
namespace {

struct Env {
    explicit Env(const char* v) { v ? setenv("ITR_TABLE_PROBES", v, 1) : unsetenv("ITR_TABLE_PROBES"); }
    ~Env() { unsetenv("ITR_TABLE_PROBES"); }
};

TEST(ModuleNftChoice, NoFunctionNoPrograms)
{
    Env e(nullptr);
    auto c = choose_module_nft(false);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, NftCalls::None);
}

TEST(ModuleNftChoice, ForcedKprobes)
{
    Env e("kprobes");
    auto c = choose_module_nft(true);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, NftCalls::Kprobes);
    EXPECT_EQ(c->why, "kprobes: ITR_TABLE_PROBES=kprobes");
}

TEST(ModuleNftChoice, UnknownValueIsOneError)
{
    Env e("kprobe");
    auto c = choose_module_nft(true);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().what, "ITR_TABLE_PROBES=kprobe: unknown value");
}

TEST(ModuleNftChoice, FentryExactlyWhereNfTablesHasModuleBtf)
{
    Env e(nullptr);
    const bool btf = access("/sys/kernel/btf/nf_tables", R_OK) == 0;
    auto c = choose_module_nft(true);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->how, btf ? NftCalls::Fentry : NftCalls::Kprobes) << c->why;
    Env forced("fentry");
    auto f = choose_module_nft(true);
    EXPECT_EQ(bool(f), btf);
}

}  // namespace
}  // namespace itr
