// The arm64 facts the BPF object reads by (bpf/arm64_regs.h), checked where
// they can be without an arm64 kernel: the kprobe context against the
// aarch64 uapi <asm/ptrace.h>, and where nf_log_trace's arguments are at its
// entry against what the aarch64 compiler does for a call of the same
// prototype (the kernel is built by the same compiler and ABI). Compiled and
// run by the arm64 cross build (scripts/cross-arm64.sh, under qemu-aarch64);
// an x86-64 build has neither the headers nor the instructions and skips.
#include <gtest/gtest.h>

#if defined(__aarch64__)
#include <asm/ptrace.h>
#include <linux/types.h>

#include <cstddef>
#include <cstdint>

extern "C" {
#include "arm64_regs.h"
}

static_assert(sizeof(itr_arm64_regs) == sizeof(user_pt_regs), "user_pt_regs: size");
static_assert(offsetof(itr_arm64_regs, regs) == offsetof(user_pt_regs, regs), "regs");
static_assert(offsetof(itr_arm64_regs, sp) == offsetof(user_pt_regs, sp), "sp");
static_assert(offsetof(itr_arm64_regs, pc) == offsetof(user_pt_regs, pc), "pc");
static_assert(offsetof(itr_arm64_regs, pstate) == offsetof(user_pt_regs, pstate), "pstate");
static_assert(offsetof(user_pt_regs, sp) == 248, "the BPF side's static_assert says 248");
static_assert(sizeof(user_pt_regs{}.regs) / sizeof(user_pt_regs{}.regs[0]) == 31, "x0..x30");
static_assert(sizeof(user_pt_regs{}.regs[0]) == 8, "x<n> at 8 * n");

#define ITR_STR2(x) #x
#define ITR_STR(x) ITR_STR2(x)

extern "C" {
// x0..x7 in [0..7], then the four 8-byte stack slots nf_log_trace's
// variadic arguments are read from, as the BPF reader reads them (entry sp
// + ITR_ARM64_LOG_VARARGS_SP_OFF), in [8..11].
__u64 itr_test_captured[12];
void itr_test_log_entry(const void* net, std::uint8_t pf, unsigned int hooknum, const void* skb,
                        const void* in, const void* out, const void* loginfo, const char* fmt, ...);
}

// At its first instruction, as a kprobe sees it: nothing has moved sp yet.
asm(".text\n"
    ".p2align 2\n"
    ".globl itr_test_log_entry\n"
    ".type itr_test_log_entry, %function\n"
    "itr_test_log_entry:\n"
    "	adrp x9, itr_test_captured\n"
    "	add x9, x9, :lo12:itr_test_captured\n"
    "	stp x0, x1, [x9, #0]\n"
    "	stp x2, x3, [x9, #16]\n"
    "	stp x4, x5, [x9, #32]\n"
    "	stp x6, x7, [x9, #48]\n"
    "	ldr x10, [sp, #(" ITR_STR(ITR_ARM64_LOG_VARARGS_SP_OFF) " + 0)]\n"
    "	ldr x11, [sp, #(" ITR_STR(ITR_ARM64_LOG_VARARGS_SP_OFF) " + 8)]\n"
    "	stp x10, x11, [x9, #64]\n"
    "	ldr x10, [sp, #(" ITR_STR(ITR_ARM64_LOG_VARARGS_SP_OFF) " + 16)]\n"
    "	ldr x11, [sp, #(" ITR_STR(ITR_ARM64_LOG_VARARGS_SP_OFF) " + 24)]\n"
    "	stp x10, x11, [x9, #80]\n"
    "	ret\n"
    ".size itr_test_log_entry, . - itr_test_log_entry\n");
#endif

namespace {

#if defined(__aarch64__)
__u64 u(const void* p)
{
    return reinterpret_cast<std::uintptr_t>(p);
}
#endif

TEST(Arm64Abi, NfLogTraceArgumentsAreWhereTheBpfReaderLooks)
{
#if defined(__aarch64__)
    static const char fmt[] = "TRACE: %s:%s:%s:%u ", table[] = "filter", chain[] = "INPUT", comment[] = "rule";
    int net = 0, skb = 0, in = 0, out = 0, loginfo = 0;
    // rulenum with every byte distinct: a slot read at the wrong offset or
    // the wrong half of its slot cannot pass.
    const unsigned int rulenum = 0x12345678u;
    itr_test_log_entry(&net, 2, 1, &skb, &in, &out, &loginfo, fmt, table, chain, comment, rulenum);

    EXPECT_EQ(itr_test_captured[0], u(&net));
    EXPECT_EQ(itr_test_captured[1] & 0xff, 2u);
    EXPECT_EQ(itr_test_captured[2] & 0xffffffffu, 1u);
    EXPECT_EQ(itr_test_captured[3], u(&skb));
    EXPECT_EQ(itr_test_captured[4], u(&in));
    EXPECT_EQ(itr_test_captured[5], u(&out));
    EXPECT_EQ(itr_test_captured[ITR_ARM64_LOG_LOGINFO_REG], u(&loginfo));
    EXPECT_EQ(itr_test_captured[ITR_ARM64_LOG_FMT_REG], u(fmt));
    EXPECT_EQ(itr_test_captured[8], u(table));
    EXPECT_EQ(itr_test_captured[9], u(chain));
    EXPECT_EQ(itr_test_captured[10], u(comment));
    EXPECT_EQ(static_cast<std::uint32_t>(itr_test_captured[11]), rulenum);
#else
    GTEST_SKIP() << "aarch64 only: the arm64 cross build runs it under qemu-aarch64 (scripts/cross-arm64.sh)";
#endif
}

}  // namespace
