/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 facts the BPF object reads by, shared with the unit tests that
 * check them against the aarch64 uapi headers and compiler
 * (tests/unit/arm64_abi_test.cpp). Needs __u64 (vmlinux.h on the BPF side,
 * <linux/types.h> in C++).
 *
 * A kprobe program's context on arm64 is the kernel's struct pt_regs, whose
 * first part is the uapi struct user_pt_regs (arch/arm64/include/uapi/asm/
 * ptrace.h; bpf_user_pt_regs_t on arm64). The vmlinux.h the build generates
 * comes from the build host's BTF (x86), which has no user_pt_regs, so the
 * layout is declared here; it is the architecture's ABI, the same on every
 * kernel version, so no CO-RE relocation is wanted (this header is included
 * outside vmlinux.h's preserve_access_index region).
 */
#ifndef ITR_ARM64_REGS_H
#define ITR_ARM64_REGS_H

struct itr_arm64_regs {
	__u64 regs[31]; /* x0..x30 */
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

/*
 * nf_log_trace(net, pf, hooknum, skb, in, out, loginfo, fmt, tablename,
 * chainname, comment, rulenum), AAPCS64: the eight named arguments in
 * x0..x7, the four variadic ones in 8-byte stack slots from the entry sp up
 * (bpf/compat.bpf.h says why).
 */
#define ITR_ARM64_LOG_LOGINFO_REG 6
#define ITR_ARM64_LOG_FMT_REG 7
#define ITR_ARM64_LOG_VARARGS_SP_OFF 0 /* tablename; chainname, comment, rulenum follow */

#endif /* ITR_ARM64_REGS_H */
