/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel difference the BPF side cares about, one block per change,
 * each with a note. Decisions use CO-RE (field/type existence, field sizes
 * and offsets), never LINUX_VERSION_CODE: libbpf resolves them against the
 * running kernel's BTF at load time and the verifier prunes the dead side.
 *
 * Kernels covered: 5.10 (vmlinux BTF only), 6.1 and 6.12 (module BTF), 6.18.
 * Include after vmlinux.h and the libbpf headers.
 */
#ifndef ITR_COMPAT_BPF_H
#define ITR_COMPAT_BPF_H

/* --------------------------------------------------------------------
 * Architecture: argument registers and the stack.
 *
 * The argument layout (struct itr_arg_layout) numbers the C arguments of a
 * function 0..5, whatever registers carry them: x86-64 di si dx cx r8 r9,
 * arm64 x0..x5. Every function we probe takes at most six register
 * arguments but nf_log_trace (below). __TARGET_ARCH_<arch> comes from
 * bpf/CMakeLists.txt (ITR_BPF_ARCH, from the target processor).
 *
 * The verifier only accepts context loads at "ctx + constant" ("dereference
 * of modified ctx ptr" otherwise). Left alone, clang merges the six loads of
 * a switch into one load at "ctx + phi(offsets)". So itr_arg loads all six
 * (six single instructions) and hides each value behind barrier_var() before
 * choosing: the choice is then between registers, never between addresses.
 * idx comes from .rodata, so the verifier knows it and prunes the other cases.
 */
static __always_inline __u64 itr_arg_pick(__u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4,
					  __u64 a5, __u32 idx)
{
	barrier_var(a0);
	barrier_var(a1);
	barrier_var(a2);
	barrier_var(a3);
	barrier_var(a4);
	barrier_var(a5);
	switch (idx) {
	case 0:
		return a0;
	case 1:
		return a1;
	case 2:
		return a2;
	case 3:
		return a3;
	case 4:
		return a4;
	case 5:
		return a5;
	default:
		return 0;
	}
}

/*
 * nf_log_trace(net, pf, hooknum, skb, in, out, loginfo, fmt, tablename,
 * chainname, comment, rulenum): the reader fills all six of the arguments
 * past the sixth, wherever the architecture passes them (see each block).
 */
struct itr_log_stack_args {
	__u64 loginfo;
	__u64 fmt;
	__u64 tablename;
	__u64 chainname;
	__u64 comment;
	__u64 rulenum; /* unsigned int in the low half of the slot */
};

#if defined(__TARGET_ARCH_x86)

/* vmlinux.h is x86 BTF here: its struct pt_regs is the kprobe context. */
static __always_inline __u64 itr_arg(struct pt_regs *ctx, __u32 idx)
{
	return itr_arg_pick(ctx->di, ctx->si, ctx->dx, ctx->cx, ctx->r8, ctx->r9, idx);
}

/* Return value register (kretprobes, and the module's return context). */
static __always_inline __u64 itr_retval(struct pt_regs *ctx)
{
	return ctx->ax;
}

/* Stack pointer: at function entry it points at the return address. */
static __always_inline __u64 itr_sp(struct pt_regs *ctx)
{
	return ctx->sp;
}

/*
 * System V x86-64 psABI (3.2.3): six INTEGER-class arguments in registers,
 * the rest on the stack, variadic or not; at entry sp holds the return
 * address, so argument k (k >= 6) is at sp + 8 * (k - 5). Read all six
 * slots at once.
 */
static __always_inline int itr_log_trace_stack_args(struct pt_regs *ctx,
						    struct itr_log_stack_args *a)
{
	return bpf_probe_read_kernel(a, sizeof(*a), (const void *)(itr_sp(ctx) + 8));
}

/*
 * A kretprobe's registers are those after "ret": sp is one slot above the
 * entry sp (x86 kretprobe_trampoline on 5.10 saves the post-return rsp;
 * the rethook trampoline since 5.19 saves "sp - 16" and fixes it up). Accept
 * a small window so either convention matches; live nested frames of the
 * same function are always far more than this apart.
 */
#define ITR_RET_SP_SLACK 16

#elif defined(__TARGET_ARCH_arm64)

/*
 * arm64: the kprobe context is struct user_pt_regs, declared in
 * arm64_regs.h (x0..x30 at 8 * n, sp at 248) because the x86 vmlinux.h has
 * no such type; tests/unit/arm64_abi_test.cpp compiles the same offsets
 * against the aarch64 <asm/ptrace.h>.
 *
 * To be confirmed on a real arm64 kernel (scripts/vmtest.sh --arch arm64):
 * the nf_log_trace slots and the kretprobe sp below follow the ABI and the
 * kernel's trampolines as read, not yet a run.
 */
#include "arm64_regs.h"
_Static_assert(__builtin_offsetof(struct itr_arm64_regs, regs[6]) == 48, "x6 at 48");
_Static_assert(__builtin_offsetof(struct itr_arm64_regs, sp) == 248, "user_pt_regs.sp at 248");

static __always_inline const struct itr_arm64_regs *itr_arm64(struct pt_regs *ctx)
{
	return (const void *)ctx;
}

static __always_inline __u64 itr_arg(struct pt_regs *ctx, __u32 idx)
{
	const struct itr_arm64_regs *r = itr_arm64(ctx);

	return itr_arg_pick(r->regs[0], r->regs[1], r->regs[2], r->regs[3], r->regs[4],
			    r->regs[5], idx);
}

/* AAPCS64: a result of up to 64 bits comes back in x0. */
static __always_inline __u64 itr_retval(struct pt_regs *ctx)
{
	return itr_arm64(ctx)->regs[0];
}

/*
 * Stack pointer. A call (bl) writes the return address to x30 and leaves
 * sp alone: at function entry (a kprobe on the first instruction, before
 * the prologue) sp is the caller's, and it points at the first argument
 * passed on the stack.
 */
static __always_inline __u64 itr_sp(struct pt_regs *ctx)
{
	return itr_arm64(ctx)->sp;
}

/*
 * AAPCS64 ("Procedure Call Standard for the Arm 64-bit Architecture",
 * parameter passing, stages B-C): integer and pointer arguments take x0..x7
 * in order (NGRN < 8), the rest go to the stack from sp at the call upwards,
 * each in a slot of at least 8 bytes (C.16); a value smaller than 8 bytes
 * sits at the slot's lowest address (little-endian). Linux follows AAPCS64
 * for variadic functions too: their anonymous arguments are passed exactly
 * like named ones (Apple's arm64 ABI is the one that puts them all on the
 * stack). So the eight named arguments of nf_log_trace fill x0..x7 (loginfo
 * in x6, fmt in x7) and the four variadic ones are at entry sp + 0
 * (tablename), + 8 (chainname), + 16 (comment), + 24 (rulenum, an unsigned
 * int: the low half of its slot; the upper half is undefined, and the
 * reader keeps only 32 bits).
 */
static __always_inline int itr_log_trace_stack_args(struct pt_regs *ctx,
						    struct itr_log_stack_args *a)
{
	const struct itr_arm64_regs *r = itr_arm64(ctx);

	a->loginfo = r->regs[ITR_ARM64_LOG_LOGINFO_REG];
	a->fmt = r->regs[ITR_ARM64_LOG_FMT_REG];
	return bpf_probe_read_kernel(&a->tablename, 4 * sizeof(__u64),
				     (const void *)(r->sp + ITR_ARM64_LOG_VARARGS_SP_OFF));
}

/*
 * What sp a kretprobe handler sees: the arm64 return trampolines
 * (kretprobe_trampoline up to 5.19, arch_rethook_trampoline since) are
 * entered by the probed function's "ret", reserve a struct pt_regs below
 * the sp they find and record that entry sp ("add x0, sp, #PT_REGS_SIZE;
 * stp lr, x0, [sp, #S_LR]"). The probed function has restored its caller's
 * sp by then, so the return sees exactly the sp its entry saw: no slack.
 */
#define ITR_RET_SP_SLACK 0

#else
#error "iptables-trace BPF: define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64 (ITR_BPF_ARCH in bpf/CMakeLists.txt)"
#endif

/* --------------------------------------------------------------------
 * struct nf_hook_state.hook: "unsigned int" up to 5.1x, "u8" in 6.x (which
 * also moved pf from offset 4 to 1). The probed bitfield read takes the
 * field's relocated byte offset and size, so it reads 4 or 1 bytes as the
 * running kernel has it. pf is u8 everywhere; only its offset moves.
 */
static __always_inline __u32 itr_state_hook(const struct nf_hook_state *state)
{
	if (!state)
		return 0;
	return (__u32)BPF_CORE_READ_BITFIELD_PROBED(state, hook);
}

static __always_inline __u32 itr_state_pf(const struct nf_hook_state *state)
{
	if (!state)
		return 0;
	return BPF_CORE_READ(state, pf);
}

/* --------------------------------------------------------------------
 * Network namespace inode: net->ns.inum, stable since 3.19. 6.18 reworked
 * struct ns_common around it (ns_type, ns_id, ...); CO-RE follows the move.
 */
static __always_inline __u32 itr_net_inum(const struct net *net)
{
	if (!net)
		return 0;
	return BPF_CORE_READ(net, ns.inum);
}

static __always_inline __u32 itr_state_netns(const struct nf_hook_state *state)
{
	if (!state)
		return 0;
	return itr_net_inum(BPF_CORE_READ(state, net));
}

/* --------------------------------------------------------------------
 * struct xt_table lives in x_tables; on module builds it is in module BTF
 * only once x_tables is loaded (and 5.10 has no module BTF at all, though
 * Debian's 5.10 vmlinux BTF was seen to carry it). Guard the name read so
 * the object still loads when the type is missing: libbpf then poisons the
 * relocation and the verifier drops the guarded, unreachable code.
 */
static __always_inline void itr_xt_table_name(__u64 table, char *dst)
{
	const struct xt_table *t = (const void *)table;

	if (!t)
		return;
	if (bpf_core_type_exists(struct xt_table))
		bpf_core_read_str(dst, ITR_TABLE_LEN, &t->name);
}

/* --------------------------------------------------------------------
 * skb->nf_trace: a one-bit field, present when CONFIG_NETFILTER_XT_TARGET_TRACE
 * or CONFIG_NF_TABLES is set (always on the distro kernels we support). The
 * probed bitfield read copes with its byte moving between versions.
 */
static __always_inline int itr_skb_nf_trace(const struct sk_buff *skb)
{
	if (!bpf_core_field_exists(skb->nf_trace))
		return 0;
	return BPF_CORE_READ_BITFIELD_PROBED(skb, nf_trace) != 0;
}

/* --------------------------------------------------------------------
 * nf_tables types come from the nf_tables module: on 6.x its module BTF
 * has them and CO-RE reads them (ITR_NFT_CORE). 5.10 has no module BTF
 * and its vmlinux BTF has no nft type at all, so CO-RE cannot reach
 * them; there the few fields we need are read at the fixed offsets of
 * 5.10's include/net/netfilter/nf_tables.h (ITR_NFT_510, below). Any other
 * kernel without the types gets no nft events rather than guesses.
 *
 * The choice is made from load-time constants (CO-RE type existence and
 * the running kernel's version), so the verifier prunes the unused paths
 * and the poisoned relocations of the CO-RE path on 5.10.
 */
extern int LINUX_KERNEL_VERSION __kconfig;

#define ITR_NFT_NONE 0
#define ITR_NFT_CORE 1
#define ITR_NFT_510 2

static __always_inline int itr_nft_types_exist(void)
{
	return bpf_core_type_exists(struct nft_pktinfo) &&
	       bpf_core_type_exists(struct nft_chain) &&
	       bpf_core_type_exists(struct nft_table);
}

static __always_inline int itr_nft_mode(void)
{
	if (itr_nft_types_exist())
		return ITR_NFT_CORE;
	if (LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 10, 0) &&
	    LINUX_KERNEL_VERSION < KERNEL_VERSION(5, 11, 0))
		return ITR_NFT_510;
	return ITR_NFT_NONE;
}

/*
 * 5.10 layouts, checked with offsetof() against the 5.10.0-32 headers
 * (x86-64):
 *   struct nft_pktinfo { skb @0; bool tprot_set @8; u8 tprot @9;
 *                        struct xt_action_param xt @16 }, and
 *   xt_action_param { match/target @0; matchinfo/targinfo @8; state @16 }
 *     -> pkt->xt.state @32
 *   struct nft_chain { rules_gen_0, rules_gen_1, rules (list_head),
 *                      list (list_head), rhlhead (rhlist_head, 2 pointers),
 *                      table @64, handle @72, use @80, flags @84, name @88 }
 *   struct nft_table { list @0; struct rhltable chains_ht @16; chains, sets,
 *                      objects, flowtables (list_heads); hgenerator, handle
 *                      (u64); use (u32); u16 family:6,flags:8,genmask:2;
 *                      name } -> use @16+R+80, family @16+R+84, name
 *                      @16+R+88, R = sizeof(struct rhltable) (136 there).
 * R depends on the lock configuration (struct rhashtable holds a mutex):
 * take it from vmlinux BTF, which does carry struct rhltable.
 */
#define ITR_NFT510_PKT_STATE 32
#define ITR_NFT510_CHAIN_TABLE 64
#define ITR_NFT510_CHAIN_NAME 88
#define ITR_NFT510_TABLE_TAIL 16 /* offset of chains_ht */

static __always_inline __u64 itr_nft510_ptr(const void *base, __u32 off)
{
	__u64 v = 0;

	if (base)
		bpf_probe_read_kernel(&v, sizeof(v), (const char *)base + off);
	return v;
}

static __always_inline __u32 itr_nft510_table_off(__u32 tail)
{
	return ITR_NFT510_TABLE_TAIL + bpf_core_type_size(struct rhltable) + tail;
}

/* pkt->skb: the first member in every version. */
static __always_inline const struct sk_buff *itr_nft_pkt_skb(const struct nft_pktinfo *pkt)
{
	if (itr_nft_mode() == ITR_NFT_CORE)
		return BPF_CORE_READ(pkt, skb);
	if (itr_nft_mode() == ITR_NFT_510)
		return (const void *)itr_nft510_ptr(pkt, 0);
	return NULL;
}

/*
 * nft_pktinfo's hook state: "pkt->xt.state" (struct xt_action_param xt) up to
 * 5.13, "pkt->state" since 5.14, which dropped xt from nft_pktinfo.
 */
struct nft_pktinfo___xt {
	struct sk_buff *skb;
	struct xt_action_param xt;
} __attribute__((preserve_access_index));

static __always_inline const struct nf_hook_state *
itr_nft_pkt_state(const struct nft_pktinfo *pkt)
{
	const struct nft_pktinfo___xt *old = (const void *)pkt;

	if (itr_nft_mode() == ITR_NFT_510)
		return (const void *)itr_nft510_ptr(pkt, ITR_NFT510_PKT_STATE);
	if (itr_nft_mode() != ITR_NFT_CORE)
		return NULL;
	if (bpf_core_field_exists(pkt->state))
		return BPF_CORE_READ(pkt, state);
	if (bpf_core_field_exists(old->xt))
		return BPF_CORE_READ(old, xt.state);
	return NULL;
}

static __always_inline const struct nft_table *itr_nft_chain_table(const struct nft_chain *c)
{
	if (itr_nft_mode() == ITR_NFT_CORE)
		return BPF_CORE_READ(c, table);
	if (itr_nft_mode() == ITR_NFT_510)
		return (const void *)itr_nft510_ptr(c, ITR_NFT510_CHAIN_TABLE);
	return NULL;
}

static __always_inline const char *itr_nft_chain_name(const struct nft_chain *c)
{
	if (itr_nft_mode() == ITR_NFT_CORE)
		return BPF_CORE_READ(c, name);
	if (itr_nft_mode() == ITR_NFT_510)
		return (const void *)itr_nft510_ptr(c, ITR_NFT510_CHAIN_NAME);
	return NULL;
}

static __always_inline const char *itr_nft_table_name(const struct nft_table *t)
{
	if (itr_nft_mode() == ITR_NFT_CORE)
		return BPF_CORE_READ(t, name);
	if (itr_nft_mode() == ITR_NFT_510)
		return (const void *)itr_nft510_ptr(t, itr_nft510_table_off(88));
	return NULL;
}

/*
 * nft_table.family: a 6-bit bitfield (u16 family:6, flags:8, genmask:2) in
 * every version we support; the probed bitfield read keeps us safe if it
 * moves or widens. On 5.10: the low 6 bits of the u16 after "use".
 */
static __always_inline __u32 itr_nft_table_family(const struct nft_table *t)
{
	__u16 v = 0;

	if (!t)
		return 0;
	if (itr_nft_mode() == ITR_NFT_CORE)
		return (__u32)BPF_CORE_READ_BITFIELD_PROBED(t, family);
	if (itr_nft_mode() == ITR_NFT_510) {
		bpf_probe_read_kernel(&v, sizeof(v), (const char *)t + itr_nft510_table_off(84));
		return v & 0x3f;
	}
	return 0;
}

/*
 * What nft_do_chain returned, as a verdict. Since the kernel's
 * NF_DROP_REASON() (upstream 6.8, also in Debian's 6.1.19x), nft_do_chain
 * frees a dropped skb itself and returns NF_STOLEN with the errno in the
 * upper 16 bits ((EPERM << 16) | NF_STOLEN = 0x10002; both the rule-verdict
 * and the policy-drop paths, seen in the 6.1 and 6.12 nf_tables.ko). A
 * genuine NF_STOLEN (fwd, synproxy, ...) carries no errno. Report the
 * former as what it is, a drop: NF_DROP with the errno kept in the upper
 * bits, the NF_DROP_ERR() encoding of that same drop.
 */
#define ITR_NF_VERDICT_MASK 0xffU
#define ITR_NF_DROP 0U
#define ITR_NF_STOLEN 2U

static __always_inline __u32 itr_nft_verdict(__u32 ret)
{
	if ((ret & ITR_NF_VERDICT_MASK) == ITR_NF_STOLEN && (ret >> 16) != 0)
		return (ret & ~ITR_NF_VERDICT_MASK) | ITR_NF_DROP;
	return ret;
}

#endif /* ITR_COMPAT_BPF_H */
