// SPDX-License-Identifier: GPL-2.0
/*
 * iptables-trace, kernel side.
 *
 * Programs run by the iptables_trace module (SEC("kprobe") with no target,
 * so the skeleton never attaches them; user space pins them for the module):
 *   kprobe_ipt_do_table / kprobe_ip6t_do_table       table entry: filter,
 *       then push {skb, table, start, snapshot} on a per-CPU stack; return 1
 *       to have the module track the call (and mark the packet), else 0.
 *   kretprobe_ipt_do_table / kretprobe_ip6t_do_table table return (only for
 *       entries that returned 1): pop, emit ITR_EV_TABLE with verdict + cost.
 *   kprobe_nf_log_trace                              one rule/return/policy
 *       hit of a marked packet: emit ITR_EV_RULE.
 * The same programs without the module (itr_cfg.mode == ITR_MODE_KPROBES,
 * the bpf backend): libbpf attaches kprobe_*_all / kretprobe_*_all and
 * kprobe_nf_log_trace as kprobes; an nftables table marks the packets.
 * Where the kernel has BTF for the table functions and allows trampolines,
 * fentry_* / fexit_* replace the kprobe_*_all pair (cheaper, and the return
 * sees the arguments). nf_log_trace stays a kprobe: it is variadic, and
 * the kernel refuses trampolines on variadic functions.
 * Programs attached by libbpf (when nf_tables is there):
 *   kprobe_nft_do_chain / kretprobe_nft_do_chain     one nft base chain:
 *       emit ITR_EV_NFT for packets that match the filter (nft types by
 *       CO-RE where BTF has them, at 5.10's fixed offsets on 5.10; a drop
 *       that nft_do_chain returns as STOLEN + errno is reported as DROP).
 *
 * The layout of everything that leaves this file is in
 * include/iptables_trace/event.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "iptables_trace/event.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space between open and load; frozen at load. */
const volatile struct itr_config itr_cfg = {};

#include "compat.bpf.h"
#include "packet.bpf.h"
#include "filter.bpf.h"

/* Nesting of table calls on one CPU: a REJECT walks OUTPUT inside the outer
 * call; a softirq may interrupt a task-context call. 8 is plenty. */
#define ITR_STACK_DEPTH 8
_Static_assert((ITR_STACK_DEPTH & (ITR_STACK_DEPTH - 1)) == 0, "itr_slot masks: a power of two");
/* Table calls run with BHs off and never take this long: an entry older than
 * this belongs to a call that returned on another CPU (migration under full
 * preemption before the function disabled BHs, or after it enabled them). */
#define ITR_STALE_NS 1000000000ULL

/* One traced ipt_do_table / ip6t_do_table call (ITR_MODE_KPROBES: one call,
 * traced or not). */
struct itr_frame {
	__u64 skb;
	__u64 table;
	__u64 start_ns;
	__u64 sp;     /* ITR_MODE_KPROBES: stack pointer at entry */
	__u32 hook;
	__u32 flags; /* ITR_F_* of the snapshot */
	__u32 traced; /* ITR_MODE_KPROBES: the filter matched */
	__u32 _pad;
	char table_name[ITR_TABLE_LEN];
	struct itr_pkt pkt;
};

struct itr_stack {
	__u32 depth;
	__u32 _pad;
	struct itr_frame f[ITR_STACK_DEPTH];
};

/* One nft_do_chain call. Every call gets a frame, traced or not, so that
 * a return pops its own frame, found by stack pointer. */
struct itr_nft_frame {
	__u64 sp;
	__u64 start_ns;
	__u64 chain;
	__u32 traced;
	__u32 hook;
	__u32 flags;
	__u32 _pad;
	struct itr_pkt pkt;
};

struct itr_nft_stack {
	__u32 depth;
	__u32 _pad;
	struct itr_nft_frame f[ITR_STACK_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ITR_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct itr_stack);
} ipt_stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct itr_nft_stack);
} nft_stack SEC(".maps");

/* Events are built here, not on the 512-byte BPF stack. Kprobe handlers do
 * not nest on a CPU (a kprobe hit inside a handler is counted as missed), so
 * one slot per CPU serves every program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct itr_event);
} scratch SEC(".maps");

static __always_inline void itr_stat_inc(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &idx);

	if (c)
		*c += 1;
}

static __always_inline struct itr_event *itr_event_begin(__u32 kind)
{
	__u32 zero = 0;
	struct itr_event *ev = bpf_map_lookup_elem(&scratch, &zero);

	if (!ev)
		return NULL;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	return ev;
}

static __always_inline int itr_event_send(void *ctx, struct itr_event *ev)
{
	int err;

	ev->ts_ns = bpf_ktime_get_ns();
	ev->cpu = bpf_get_smp_processor_id();
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	err = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, ev, sizeof(*ev));
	if (err)
		itr_stat_inc(ITR_STAT_OUTPUT_ERR);
	return err;
}

/* Copy a NUL-terminated kernel string into dst[size]; flag truncation. */
static __always_inline void itr_read_name(char *dst, __u32 size, const char *src, __u32 *flags)
{
	char c = 0;
	long n;

	if (!src)
		return;
	n = bpf_probe_read_kernel_str(dst, size, src);
	if (n == size && !bpf_probe_read_kernel(&c, 1, src + size - 1) && c)
		*flags |= ITR_F_TRUNCATED;
}

/* ------------------------------------------------------------------ */
/* ipt_do_table / ip6t_do_table                                        */

/*
 * Every index into a frame array goes through here. The 5.10 and 6.1
 * verifiers do not carry a bound checked on one register over to the copy
 * clang then indexes with; a mask after an opaque barrier is provably in
 * range on all of them. The callers' own checks still decide the logic.
 */
static __always_inline __u32 itr_slot(__u32 i)
{
	asm volatile("" : "+r"(i));
	return i & (ITR_STACK_DEPTH - 1);
}

/*
 * A search loop leaves the verifier one exact index per exit, and it walks
 * whatever uses that index once per exit. Stored and read back from the map
 * (whose contents it does not track), the index is one unknown in range for
 * all exits, and the rest of the program is walked once. Per-CPU map, and
 * our programs do not nest on a CPU: the value read is the value stored.
 */
static __always_inline __u32 itr_reread_slot(__u32 *stored)
{
	return itr_slot(*(volatile __u32 *)stored);
}

/* Stack depth to push at, after dropping stale entries; ITR_STACK_DEPTH if
 * the stack is full. `top_start` is the start time of the top entry. */
static __always_inline __u32 itr_push_depth(__u32 depth, __u64 top_start)
{
	if (depth > ITR_STACK_DEPTH)
		depth = ITR_STACK_DEPTH;
	/* Entries are pushed in time order: if the top one is stale, so is
	 * everything below it. Only nested (or stale) pushes pay the clock. */
	if (depth > 0 && bpf_ktime_get_ns() - top_start > ITR_STALE_NS)
		depth = 0;
	return depth;
}

/* Depth to push at on a frame stack (struct itr_stack or itr_nft_stack),
 * stale entries dropped; ITR_STACK_DEPTH when full. */
#define itr_free_depth(st)                                                   \
	({                                                                   \
		__u32 _d = (st)->depth;                                      \
		if (_d > ITR_STACK_DEPTH)                                    \
			_d = ITR_STACK_DEPTH;                                \
		itr_push_depth(_d, _d > 0 ? (st)->f[itr_slot(_d - 1)].start_ns : 0); \
	})

/* Depth to reserve at on a trampoline program's stack: as itr_free_depth,
 * but a reserved frame not yet filled (start_ns 0) is never stale. */
#define itr_reserve_depth(st)                                                \
	({                                                                   \
		__u32 _d = (st)->depth;                                      \
		__u64 _top;                                                  \
		if (_d > ITR_STACK_DEPTH)                                    \
			_d = ITR_STACK_DEPTH;                                \
		_top = _d > 0 ? (st)->f[itr_slot(_d - 1)].start_ns : 0;      \
		if (_top && bpf_ktime_get_ns() - _top > ITR_STALE_NS)        \
			_d = 0;                                              \
		_d;                                                          \
	})

/* itr_config.marked_only: an unmarked skb is none of ours. One read, and
 * the untraced packet's call is done. */
static __always_inline int itr_unmarked(const struct sk_buff *skb)
{
	return itr_cfg.marked_only && !itr_skb_nf_trace(skb);
}

/*
 * nf_trace was set when the call began. If an outer call of ours on this
 * CPU holds the same skb, the module set that bit for the outer call: the
 * packet's own value is what the outer entry saw. Otherwise someone else
 * (a TRACE rule, nft "meta nftrace set 1") set it.
 */
static __always_inline __u32 itr_own_trace(struct itr_stack *st, __u32 depth, __u64 skb)
{
	for (int k = 0; k < ITR_STACK_DEPTH; k++) {
		int i = (int)depth - 1 - k;

		if (i < 0 || i >= ITR_STACK_DEPTH)
			break;
		if (st->f[itr_slot(i)].skb == skb)
			return st->f[itr_slot(i)].flags & ITR_F_ADMIN_TRACE;
	}
	return ITR_F_ADMIN_TRACE;
}

static __always_inline int itr_table_entry(struct pt_regs *ctx, __u32 skb_i, __u32 state_i,
					   __u32 table_i, __u32 valid, int version)
{
	const struct sk_buff *skb;
	const struct nf_hook_state *state;
	struct itr_parse ps = {};
	struct itr_pkt *pkt;
	struct itr_stack *st;
	struct itr_frame *fr;
	__u32 zero = 0, depth, netns = 0;

	itr_stat_inc(ITR_STAT_ENTRY_SEEN);
	if (!valid)
		return 0;

	/* Filters that need no packet data. */
	if (!itr_filter_family(version) || !itr_filter_pid())
		return 0;
	state = (const void *)itr_arg(ctx, state_i);
	if (itr_cfg.has_netns) {
		netns = itr_state_netns(state);
		if (netns != itr_cfg.netns)
			return 0;
	}
	skb = (const void *)itr_arg(ctx, skb_i);
	if (!skb)
		return 0;

	/* The frame we would push, taken before anything is parsed: the
	 * snapshot is built in it, in map memory the verifier does not track,
	 * so the parse's many outcomes (with or without ports, ICMP, ...) do
	 * not each make it walk the rest of the program again; and before the
	 * own-trace search below, which splits `depth` into one range per
	 * iteration. Nothing is pushed until the packet matched. */
	st = bpf_map_lookup_elem(&ipt_stack, &zero);
	if (!st)
		return 0;
	depth = itr_free_depth(st);
	if (depth >= ITR_STACK_DEPTH) {
		itr_stat_inc(ITR_STAT_STACK_FULL);
		return 0;
	}
	fr = &st->f[itr_slot(depth)];
	pkt = &fr->pkt;

	/* Filters on the packet: read only what they need. */
	__builtin_memset(pkt, 0, sizeof(*pkt));
	if (itr_filter_needs_l3()) {
		itr_parse_upto(skb, version, pkt, &ps, 1);
		if (!itr_filter_l3(pkt, ps.flags))
			return 0;
	}
	if (itr_filter_needs_l4()) {
		itr_parse_upto(skb, version, pkt, &ps, 2);
		if (!itr_filter_l4(pkt, ps.flags))
			return 0;
	}
	itr_stat_inc(ITR_STAT_ENTRY_MATCHED);

	/* Matched: complete the snapshot and push. */
	itr_parse_upto(skb, version, pkt, &ps, 2);
	itr_parse_rest(skb, pkt, &ps);
	if (!itr_cfg.has_netns)
		netns = itr_state_netns(state);
	pkt->netns = netns;
	if (itr_cfg.mode == ITR_MODE_MODULE && itr_skb_nf_trace(skb))
		ps.flags |= itr_own_trace(st, depth, (__u64)skb);

	fr->skb = (__u64)skb;
	fr->table = itr_arg(ctx, table_i);
	fr->hook = itr_state_hook(state);
	fr->flags = ps.flags;
	__builtin_memset(fr->table_name, 0, sizeof(fr->table_name));
	itr_xt_table_name(fr->table, fr->table_name);
	fr->start_ns = bpf_ktime_get_ns();
	st->depth = depth + 1;
	return 1;
}

static __always_inline int itr_table_return(struct pt_regs *ctx, __u32 skb_i, __u32 state_i,
					    __u32 table_i, __u32 valid, int version, __u32 pf)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 skb, table;
	struct itr_stack *st;
	struct itr_event *ev;
	__u32 zero = 0, depth;
	int found = -1;

	if (!valid)
		return 0;
	skb = itr_arg(ctx, skb_i);
	table = itr_arg(ctx, table_i);

	st = bpf_map_lookup_elem(&ipt_stack, &zero);
	if (!st)
		return 0;
	ev = itr_event_begin(ITR_EV_TABLE);
	if (!ev)
		return 0;
	depth = st->depth;
	if (depth > ITR_STACK_DEPTH)
		depth = ITR_STACK_DEPTH;

	/* Normally the top; search below in case a nested call's return was
	 * lost (it then sits above ours and is dropped with the pop). */
	for (int k = 0; k < ITR_STACK_DEPTH; k++) {
		int i = (int)depth - 1 - k;

		if (i < 0)
			break;
		if (st->f[itr_slot(i)].skb == skb && st->f[itr_slot(i)].table == table) {
			found = i;
			break;
		}
	}

	ev->verdict = (__u32)itr_retval(ctx);
	ev->pf = pf;
	if (found >= 0 && found < ITR_STACK_DEPTH) {
		struct itr_frame *fr;
		__u32 slot;

		st->depth = found;
		slot = itr_reread_slot(&st->depth);
		fr = &st->f[slot];
		ev->flags = fr->flags | ITR_F_HAS_COST;
		ev->cost_ns = now - fr->start_ns;
		ev->hook = fr->hook;
		ev->depth = slot;
		__builtin_memcpy(ev->table, fr->table_name, sizeof(ev->table));
		__builtin_memcpy(&ev->pkt, &fr->pkt, sizeof(ev->pkt));
	} else {
		/* The entry was pushed on another CPU: report without cost. */
		const struct nf_hook_state *state = (const void *)itr_arg(ctx, state_i);

		itr_stat_inc(ITR_STAT_RETURN_UNMATCHED);
		ev->flags = itr_snapshot((const void *)skb, version, &ev->pkt);
		ev->pkt.netns = itr_state_netns(state);
		ev->hook = itr_state_hook(state);
		ev->depth = depth;
		itr_xt_table_name(table, ev->table);
	}
	itr_event_send(ctx, ev);
	return 0;
}

/*
 * ITR_MODE_KPROBES: a kretprobe fires for every call, and its registers no
 * longer hold the arguments. So every call gets a frame, traced or not, and
 * a return finds its own by stack pointer (as nft_do_chain's does); an
 * untraced frame is popped without an event.
 */
/*
 * Whether the filter takes this table call (the bpf backend's programs,
 * kprobe or fentry); if so, the frame's snapshot, table, hook, flags and
 * table name are filled. The snapshot is built in the frame (map memory):
 * see itr_nft_want. The frame's skb, sp and times are the caller's.
 */
static __always_inline int itr_table_want(struct itr_frame *fr, const struct sk_buff *skb,
					  const struct nf_hook_state *state, __u64 table, int version)
{
	struct itr_parse ps = {};
	struct itr_pkt *pkt = &fr->pkt;
	__u32 netns = 0;
	int traced;

	traced = skb != NULL && !itr_unmarked(skb) && itr_filter_family(version) && itr_filter_pid();
	if (traced && itr_cfg.has_netns) {
		netns = itr_state_netns(state);
		traced = netns == itr_cfg.netns;
	}
	if (traced) {
		__builtin_memset(pkt, 0, sizeof(*pkt));
		if (itr_filter_needs_l3()) {
			itr_parse_upto(skb, version, pkt, &ps, 1);
			traced = itr_filter_l3(pkt, ps.flags);
		}
	}
	if (traced && itr_filter_needs_l4()) {
		itr_parse_upto(skb, version, pkt, &ps, 2);
		traced = itr_filter_l4(pkt, ps.flags);
	}
	if (!traced)
		return 0;
	itr_stat_inc(ITR_STAT_ENTRY_MATCHED);
	itr_parse_upto(skb, version, pkt, &ps, 2);
	itr_parse_rest(skb, pkt, &ps);
	if (!itr_cfg.has_netns)
		netns = itr_state_netns(state);
	pkt->netns = netns;
	fr->table = table;
	fr->hook = itr_state_hook(state);
	/* nf_trace here is our nftables table's mark: not an admin's. */
	fr->flags = ps.flags;
	__builtin_memset(fr->table_name, 0, sizeof(fr->table_name));
	itr_xt_table_name(table, fr->table_name);
	return 1;
}

static __always_inline int itr_table_entry_all(struct pt_regs *ctx, __u32 skb_i, __u32 state_i,
					       __u32 table_i, __u32 valid, int version)
{
	const struct sk_buff *skb;
	struct itr_stack *st;
	struct itr_frame *fr;
	__u32 zero = 0, depth;

	itr_stat_inc(ITR_STAT_ENTRY_SEEN);
	if (!valid)
		return 0;
	st = bpf_map_lookup_elem(&ipt_stack, &zero);
	if (!st)
		return 0;
	depth = itr_free_depth(st);
	if (depth >= ITR_STACK_DEPTH) {
		itr_stat_inc(ITR_STAT_STACK_FULL);
		return 0;
	}
	fr = &st->f[itr_slot(depth)];
	skb = (const void *)itr_arg(ctx, skb_i);
	fr->traced = itr_table_want(fr, skb, (const void *)itr_arg(ctx, state_i), itr_arg(ctx, table_i), version);
	fr->sp = itr_sp(ctx);
	fr->skb = fr->traced ? (__u64)skb : 0;
	fr->start_ns = bpf_ktime_get_ns();
	st->depth = depth + 1;
	return 0;
}

static __always_inline int itr_table_return_sp(struct pt_regs *ctx, __u32 valid, __u32 pf)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 sp = itr_sp(ctx);
	struct itr_stack *st;
	struct itr_frame *fr;
	struct itr_event *ev;
	__u32 zero = 0, depth, slot;
	int found = -1;

	if (!valid)
		return 0;
	st = bpf_map_lookup_elem(&ipt_stack, &zero);
	if (!st)
		return 0;
	depth = st->depth;
	if (depth > ITR_STACK_DEPTH)
		depth = ITR_STACK_DEPTH;
	for (int k = 0; k < ITR_STACK_DEPTH; k++) {
		int i = (int)depth - 1 - k;

		if (i < 0)
			break;
		if (sp - st->f[itr_slot(i)].sp <= ITR_RET_SP_SLACK) {
			found = i;
			break;
		}
	}
	if (found < 0 || found >= ITR_STACK_DEPTH) {
		itr_stat_inc(ITR_STAT_RETURN_UNMATCHED);
		return 0;
	}
	st->depth = found;
	slot = itr_reread_slot(&st->depth);
	fr = &st->f[slot];
	if (!fr->traced)
		return 0;
	ev = itr_event_begin(ITR_EV_TABLE);
	if (!ev)
		return 0;
	ev->verdict = (__u32)itr_retval(ctx);
	ev->pf = pf;
	ev->flags = fr->flags | ITR_F_HAS_COST;
	ev->cost_ns = now - fr->start_ns;
	ev->hook = fr->hook;
	ev->depth = slot;
	__builtin_memcpy(ev->table, fr->table_name, sizeof(ev->table));
	__builtin_memcpy(&ev->pkt, &fr->pkt, sizeof(ev->pkt));
	itr_event_send(ctx, ev);
	return 0;
}

SEC("kprobe")
int kprobe_ipt_do_table_all(struct pt_regs *ctx)
{
	return itr_table_entry_all(ctx, itr_cfg.ipt.skb, itr_cfg.ipt.state, itr_cfg.ipt.table,
				   itr_cfg.ipt.valid, 4);
}

SEC("kprobe")
int kprobe_ip6t_do_table_all(struct pt_regs *ctx)
{
	return itr_table_entry_all(ctx, itr_cfg.ip6t.skb, itr_cfg.ip6t.state, itr_cfg.ip6t.table,
				   itr_cfg.ip6t.valid, 6);
}

SEC("kretprobe")
int kretprobe_ipt_do_table_all(struct pt_regs *ctx)
{
	return itr_table_return_sp(ctx, itr_cfg.ipt.valid, ITR_NFPROTO_IPV4);
}

SEC("kretprobe")
int kretprobe_ip6t_do_table_all(struct pt_regs *ctx)
{
	return itr_table_return_sp(ctx, itr_cfg.ip6t.valid, ITR_NFPROTO_IPV6);
}

SEC("kprobe")
int kprobe_ipt_do_table(struct pt_regs *ctx)
{
	return itr_table_entry(ctx, itr_cfg.ipt.skb, itr_cfg.ipt.state, itr_cfg.ipt.table,
			       itr_cfg.ipt.valid, 4);
}

SEC("kprobe")
int kprobe_ip6t_do_table(struct pt_regs *ctx)
{
	return itr_table_entry(ctx, itr_cfg.ip6t.skb, itr_cfg.ip6t.state, itr_cfg.ip6t.table,
			       itr_cfg.ip6t.valid, 6);
}

SEC("kprobe")
int kretprobe_ipt_do_table(struct pt_regs *ctx)
{
	return itr_table_return(ctx, itr_cfg.ipt.skb, itr_cfg.ipt.state, itr_cfg.ipt.table,
				itr_cfg.ipt.valid, 4, ITR_NFPROTO_IPV4);
}

SEC("kprobe")
int kretprobe_ip6t_do_table(struct pt_regs *ctx)
{
	return itr_table_return(ctx, itr_cfg.ip6t.skb, itr_cfg.ip6t.state, itr_cfg.ip6t.table,
				itr_cfg.ip6t.valid, 6, ITR_NFPROTO_IPV6);
}

/* ------------------------------------------------------------------ */
/* fentry/fexit on ipt_do_table / ip6t_do_table (the bpf backend where  */
/* the kernel has BTF for them; kprobes otherwise: src/bpf_backend)     */

/*
 * Trampoline programs see the arguments at return too (fexit), so only a
 * traced call gets a frame and its return finds it by (skb, table): no
 * stack pointer is needed, and an untraced packet pays one stack look-up
 * at return (depth 0: nothing to search).
 *
 * Why (skb, table) is the key, on a per-CPU stack:
 *  - Nesting on one CPU is LIFO: a REJECT's reply walks OUTPUT inside the
 *    INPUT call (another skb); a softirq may interrupt a process-context
 *    OUTPUT call before ipt_do_table's own local_bh_disable() (and after its
 *    local_bh_enable()), where fentry and fexit run: nf_hook_slow does not
 *    disable BHs on any of 5.10, 6.1, 6.12. Each nested call has another
 *    skb, or the same skb in another table; one skb never re-enters the
 *    table it is in. So the topmost frame with the return's (skb, table) is
 *    the return's own.
 *  - A process-context call may migrate between its entry and its return
 *    (the trampoline only disables migration while a program runs), with
 *    full preemption: its return then finds no frame on the new CPU and is
 *    not reported (as with kprobes); the orphan frame is dropped as stale.
 *  - Trampoline programs, unlike kprobes, nest on a CPU: a softirq can run
 *    ip6t's programs inside ipt's (the same program does not nest: the
 *    kernel skips it and counts a miss). So the entry reserves its slot
 *    before filling it (depth first, skb last), the return copies its frame
 *    out before popping it, and the event is built in a slot of its own
 *    per nesting level (fexit_scratch), not in the kprobes' one.
 */
#define ITR_FEXIT_NEST 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ITR_FEXIT_NEST);
	__type(key, __u32);
	__type(value, struct itr_event);
} fexit_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fexit_nest SEC(".maps");

/* The event slot of a new fexit nesting level (the level in *level), or
 * NULL when none is free; itr_fexit_done gives the level back. */
static __always_inline struct itr_event *itr_fexit_begin(__u32 *level)
{
	__u32 zero = 0, *nest = bpf_map_lookup_elem(&fexit_nest, &zero);
	struct itr_event *ev;

	if (!nest || *nest >= ITR_FEXIT_NEST)
		return NULL;
	*level = *nest;
	ev = bpf_map_lookup_elem(&fexit_scratch, level);
	if (!ev)
		return NULL;
	*nest = *level + 1;
	__builtin_memset(ev, 0, sizeof(*ev));
	return ev;
}

static __always_inline void itr_fexit_done(__u32 level)
{
	__u32 zero = 0, *nest = bpf_map_lookup_elem(&fexit_nest, &zero);

	if (nest)
		*nest = level;
}

/* Index of the topmost frame of st (depth frames) whose fields ka and kb
 * hold a and b; -1 if none. */
#define itr_find_frame(st, depth, ka, a, kb, b)                              \
	({                                                                   \
		int _found = -1;                                             \
		for (int _k = 0; _k < ITR_STACK_DEPTH; _k++) {               \
			int _i = (int)(depth) - 1 - _k;                      \
			if (_i < 0)                                          \
				break;                                       \
			if ((st)->f[itr_slot(_i)].ka == (a) &&               \
			    (st)->f[itr_slot(_i)].kb == (b)) {               \
				_found = _i;                                 \
				break;                                       \
			}                                                    \
		}                                                            \
		_found;                                                      \
	})

/* Argument idx (from .rodata) of a trampoline program, as a plain number.
 * bpf_get_func_arg (5.17+, inlined by the verifier) rather than ctx[idx]:
 * the value is a scalar, not a typed kernel pointer, so the same helpers
 * as for kprobes apply; a kernel without it fails verification, and the
 * backend then uses kprobes. */
static __always_inline __u64 itr_farg(void *ctx, __u32 idx)
{
	__u64 v = 0;

	bpf_get_func_arg(ctx, idx, &v);
	return v;
}

static __always_inline int itr_fentry_table(void *ctx, __u32 skb_i, __u32 state_i, __u32 table_i,
					    __u32 valid, int version)
{
	const struct sk_buff *skb;
	struct itr_stack *st;
	struct itr_frame *fr;
	__u32 zero = 0, depth;

	itr_stat_inc(ITR_STAT_ENTRY_SEEN);
	if (!valid)
		return 0;
	/* The common case, an untraced packet, ends here. */
	skb = (const void *)itr_farg(ctx, skb_i);
	if (!skb || itr_unmarked(skb))
		return 0;

	st = bpf_map_lookup_elem(&ipt_stack, &zero);
	if (!st)
		return 0;
	depth = itr_reserve_depth(st);
	if (depth >= ITR_STACK_DEPTH) {
		itr_stat_inc(ITR_STAT_STACK_FULL);
		return 0;
	}
	/* Reserve the slot: a program nested on this CPU pushes above it,
	 * and sees no skb in it. */
	fr = &st->f[itr_slot(depth)];
	fr->skb = 0;
	fr->traced = 0;
	fr->start_ns = 0;
	st->depth = depth + 1;
	if (!itr_table_want(fr, skb, (const void *)itr_farg(ctx, state_i), itr_farg(ctx, table_i), version)) {
		/* Nested programs have popped what they pushed: we are the top. */
		st->depth = depth;
		return 0;
	}
	fr->traced = 1;
	fr->start_ns = bpf_ktime_get_ns();
	fr->skb = (__u64)skb; /* the key, last: a frame without it is not found */
	return 0;
}

static __always_inline int itr_fexit_table(void *ctx, __u32 skb_i, __u32 table_i, __u32 valid, __u32 pf)
{
	struct itr_stack *st;
	struct itr_frame *fr;
	struct itr_event *ev;
	__u64 ret = 0, now;
	__u32 zero = 0, depth, slot, level;
	int found;

	if (!valid)
		return 0;
	st = bpf_map_lookup_elem(&ipt_stack, &zero);
	if (!st)
		return 0;
	depth = st->depth;
	if (depth == 0)
		return 0; /* the common case: an untraced call, nothing to find */
	if (depth > ITR_STACK_DEPTH)
		depth = ITR_STACK_DEPTH;
	found = itr_find_frame(st, depth, skb, itr_farg(ctx, skb_i), table, itr_farg(ctx, table_i));
	if (found < 0 || found >= ITR_STACK_DEPTH)
		return 0; /* untraced, or its entry ran elsewhere (see above) */
	now = bpf_ktime_get_ns();
	ev = itr_fexit_begin(&level);
	if (!ev) {
		st->depth = found;
		return 0;
	}

	/* Copy the frame out, then pop it (a nested entry may reuse it). The
	 * frame index goes through map memory (itr_reread_slot) so the
	 * verifier walks what follows once, not once per loop exit. */
	ev->depth = found;
	slot = itr_reread_slot(&ev->depth);
	fr = &st->f[slot];
	ev->kind = ITR_EV_TABLE;
	bpf_get_func_ret(ctx, &ret);
	ev->verdict = (__u32)ret;
	ev->pf = pf;
	ev->flags = fr->flags | ITR_F_HAS_COST;
	ev->cost_ns = now - fr->start_ns;
	ev->hook = fr->hook;
	ev->depth = slot;
	__builtin_memcpy(ev->table, fr->table_name, sizeof(ev->table));
	__builtin_memcpy(&ev->pkt, &fr->pkt, sizeof(ev->pkt));
	st->depth = slot;
	itr_event_send(ctx, ev);
	itr_fexit_done(level);
	return 0;
}

SEC("fentry/ipt_do_table")
int fentry_ipt_do_table(__u64 *ctx)
{
	return itr_fentry_table(ctx, itr_cfg.ipt.skb, itr_cfg.ipt.state, itr_cfg.ipt.table,
				itr_cfg.ipt.valid, 4);
}

SEC("fexit/ipt_do_table")
int fexit_ipt_do_table(__u64 *ctx)
{
	return itr_fexit_table(ctx, itr_cfg.ipt.skb, itr_cfg.ipt.table, itr_cfg.ipt.valid,
			       ITR_NFPROTO_IPV4);
}

SEC("fentry/ip6t_do_table")
int fentry_ip6t_do_table(__u64 *ctx)
{
	return itr_fentry_table(ctx, itr_cfg.ip6t.skb, itr_cfg.ip6t.state, itr_cfg.ip6t.table,
				itr_cfg.ip6t.valid, 6);
}

SEC("fexit/ip6t_do_table")
int fexit_ip6t_do_table(__u64 *ctx)
{
	return itr_fexit_table(ctx, itr_cfg.ip6t.skb, itr_cfg.ip6t.table, itr_cfg.ip6t.valid,
			       ITR_NFPROTO_IPV6);
}

/* ------------------------------------------------------------------ */
/* nf_log_trace: one rule hit of a packet the module marked            */

static __always_inline __u32 itr_rule_kind(const char *c)
{
	if (c[0] == 'r' && c[1] == 'u' && c[2] == 'l' && c[3] == 'e' && c[4] == 0)
		return ITR_RULE_RULE;
	if (c[0] == 'r' && c[1] == 'e' && c[2] == 't' && c[3] == 'u' && c[4] == 'r' &&
	    c[5] == 'n' && c[6] == 0)
		return ITR_RULE_RETURN;
	if (c[0] == 'p' && c[1] == 'o' && c[2] == 'l' && c[3] == 'i' && c[4] == 'c' &&
	    c[5] == 'y' && c[6] == 0)
		return ITR_RULE_POLICY;
	return ITR_RULE_UNKNOWN;
}

SEC("kprobe")
int kprobe_nf_log_trace(struct pt_regs *ctx)
{
	const struct net *net = (const void *)itr_arg(ctx, 0);
	__u32 pf = (__u8)itr_arg(ctx, 1);
	__u32 hook = (__u32)itr_arg(ctx, 2);
	const struct sk_buff *skb = (const void *)itr_arg(ctx, 3);
	const struct net_device *in = (const void *)itr_arg(ctx, 4);
	const struct net_device *out = (const void *)itr_arg(ctx, 5);
	struct itr_log_stack_args a = {};
	struct itr_stack *st;
	struct itr_event *ev;
	char comment[8] = {};
	__u32 zero = 0, flags = 0;
	int version = 0;

	/* Without the module, nf_log_trace runs for every packet with
	 * nf_trace set, an administrator's TRACE included: report only the
	 * packet of the traced table call it runs in. */
	if (itr_cfg.mode == ITR_MODE_KPROBES) {
		struct itr_frame *top;
		__u32 d;

		st = bpf_map_lookup_elem(&ipt_stack, &zero);
		if (!st)
			return 0;
		d = st->depth;
		if (d == 0 || d > ITR_STACK_DEPTH)
			return 0;
		top = &st->f[itr_slot(d - 1)];
		if (!top->traced || top->skb != (__u64)skb)
			return 0;
	}
	ev = itr_event_begin(ITR_EV_RULE);
	if (!ev)
		return 0;
	if (itr_log_trace_stack_args(ctx, &a))
		return 0;

	ev->pf = pf;
	ev->hook = hook;
	itr_read_name(ev->table, sizeof(ev->table), (const char *)a.tablename, &flags);
	itr_read_name(ev->chain, sizeof(ev->chain), (const char *)a.chainname, &flags);
	if (a.comment)
		bpf_probe_read_kernel_str(comment, sizeof(comment), (const void *)a.comment);
	ev->rule_kind = itr_rule_kind(comment);
	ev->rulenum = (__u32)a.rulenum;
	if (in)
		BPF_CORE_READ_INTO(&ev->in_dev, in, name);
	if (out)
		BPF_CORE_READ_INTO(&ev->out_dev, out, name);

	if (pf == ITR_NFPROTO_IPV4)
		version = 4;
	else if (pf == ITR_NFPROTO_IPV6)
		version = 6;
	flags |= itr_snapshot(skb, version, &ev->pkt);
	ev->pkt.netns = itr_net_inum(net);
	ev->flags = flags;

	st = bpf_map_lookup_elem(&ipt_stack, &zero);
	if (st && st->depth > 0)
		ev->depth = st->depth - 1;

	if (!itr_event_send(ctx, ev))
		itr_stat_inc(ITR_STAT_RULE_EVENTS);
	return 0;
}

/* ------------------------------------------------------------------ */
/* nft_do_chain(const struct nft_pktinfo *pkt, void *priv = nft_chain)  */

/* The table that marks packets for the bpf backend (ITR_OWN_NFT_TABLE). */
static __always_inline int itr_is_own_table(const char *name)
{
	const char own[] = ITR_OWN_NFT_TABLE;

	for (int i = 0; i < (int)sizeof(own); i++)
		if (name[i] != own[i])
			return 0;
	return 1;
}

/*
 * Whether the filter takes this nft_do_chain call; if so, the frame's
 * snapshot, chain, hook and flags are filled. The snapshot is built in the
 * frame itself, not on the BPF stack: the verifier does not track map
 * contents, so the parse's many outcomes (IPv4/IPv6, with or without
 * ports, ...) do not each make it walk the rest of the program again.
 */
static __always_inline int itr_nft_want(struct itr_nft_frame *fr, const struct nft_pktinfo *pkt, __u64 chain)
{
	const struct nf_hook_state *state;
	const struct sk_buff *skb;
	struct itr_parse ps = {};
	struct itr_pkt *snap = &fr->pkt;
	__u32 netns = 0, pf;
	int version = 0, traced;

	state = itr_nft_pkt_state(pkt);
	traced = itr_filter_pid();
	if (traced && itr_cfg.has_netns) {
		netns = itr_state_netns(state);
		traced = netns == itr_cfg.netns;
	}
	skb = NULL;
	if (traced) {
		skb = itr_nft_pkt_skb(pkt);
		traced = skb != NULL && !itr_unmarked(skb);
	}
	if (traced) {
		/* inet chains see NFPROTO_IPV4/IPV6 here; for netdev, bridge
		 * and arp, version 0 takes it from skb->protocol. */
		pf = itr_state_pf(state);
		if (pf == ITR_NFPROTO_IPV4)
			version = 4;
		else if (pf == ITR_NFPROTO_IPV6)
			version = 6;
		__builtin_memset(snap, 0, sizeof(*snap));
		if (itr_filter_needs_l3()) {
			itr_parse_upto(skb, version, snap, &ps, 1);
			traced = itr_filter_l3(snap, ps.flags);
		}
	}
	if (traced && itr_filter_needs_l4()) {
		itr_parse_upto(skb, version, snap, &ps, 2);
		traced = itr_filter_l4(snap, ps.flags);
	}
	if (!traced)
		return 0;
	itr_parse_upto(skb, version, snap, &ps, 2);
	itr_parse_rest(skb, snap, &ps);
	if (!itr_cfg.has_netns)
		netns = itr_state_netns(state);
	snap->netns = netns;
	fr->chain = chain;
	fr->hook = itr_state_hook(state);
	fr->flags = ps.flags;
	return 1;
}

/* The nft= event of a traced chain call, from its frame. 0: the call was
 * our own marking chain's, which answers nobody's question (and would cost
 * a perf sample per traced packet): not to be sent. */
static __always_inline int itr_nft_event_fill(struct itr_event *ev, const struct itr_nft_frame *fr, __u32 ret,
					      __u64 now, __u32 depth)
{
	const struct nft_chain *chain = (const void *)fr->chain;
	const struct nft_table *table = itr_nft_chain_table(chain);
	__u32 flags = fr->flags | ITR_F_HAS_COST;

	ev->kind = ITR_EV_NFT;
	ev->pf = itr_nft_table_family(table);
	ev->hook = fr->hook;
	ev->verdict = itr_nft_verdict(ret);
	ev->cost_ns = now - fr->start_ns;
	ev->depth = depth;
	if (table)
		itr_read_name(ev->table, sizeof(ev->table), itr_nft_table_name(table), &flags);
	itr_read_name(ev->chain, sizeof(ev->chain), itr_nft_chain_name(chain), &flags);
	if (itr_cfg.mode != ITR_MODE_MODULE && ev->pf == ITR_NFPROTO_INET && itr_is_own_table(ev->table))
		return 0;
	__builtin_memcpy(&ev->pkt, &fr->pkt, sizeof(ev->pkt));
	ev->flags = flags;
	return 1;
}

SEC("kprobe/nft_do_chain")
int kprobe_nft_do_chain(struct pt_regs *ctx)
{
	struct itr_nft_stack *st;
	struct itr_nft_frame *fr;
	__u32 zero = 0, depth;

	if (itr_nft_mode() == ITR_NFT_NONE)
		return 0;

	/* Every call gets a frame, so that its return pops its own. */
	st = bpf_map_lookup_elem(&nft_stack, &zero);
	if (!st)
		return 0;
	depth = itr_free_depth(st);
	if (depth >= ITR_STACK_DEPTH) {
		itr_stat_inc(ITR_STAT_STACK_FULL);
		return 0;
	}
	fr = &st->f[itr_slot(depth)];
	fr->traced = itr_nft_want(fr, (const void *)itr_arg(ctx, 0), itr_arg(ctx, 1));
	fr->sp = itr_sp(ctx);
	fr->start_ns = bpf_ktime_get_ns();
	st->depth = depth + 1;
	return 0;
}

SEC("kretprobe/nft_do_chain")
int kretprobe_nft_do_chain(struct pt_regs *ctx)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 sp = itr_sp(ctx);
	struct itr_nft_stack *st;
	struct itr_nft_frame *fr;
	struct itr_event *ev;
	__u32 zero = 0, depth;
	int found = -1;

	if (itr_nft_mode() == ITR_NFT_NONE)
		return 0;
	st = bpf_map_lookup_elem(&nft_stack, &zero);
	if (!st)
		return 0;
	depth = st->depth;
	if (depth > ITR_STACK_DEPTH)
		depth = ITR_STACK_DEPTH;
	for (int k = 0; k < ITR_STACK_DEPTH; k++) {
		int i = (int)depth - 1 - k;

		if (i < 0)
			break;
		if (sp - st->f[itr_slot(i)].sp <= ITR_RET_SP_SLACK) {
			found = i;
			break;
		}
	}
	if (found < 0 || found >= ITR_STACK_DEPTH) {
		itr_stat_inc(ITR_STAT_RETURN_UNMATCHED);
		return 0;
	}
	st->depth = found;
	fr = &st->f[itr_reread_slot(&st->depth)];
	if (!fr->traced)
		return 0;

	ev = itr_event_begin(ITR_EV_NFT);
	if (!ev)
		return 0;
	if (itr_nft_event_fill(ev, fr, (__u32)itr_retval(ctx), now, found))
		itr_event_send(ctx, ev);
	return 0;
}

/*
 * fentry/fexit on nft_do_chain (the bpf backend, where nf_tables has BTF:
 * 6.x; kprobes otherwise). As for the table functions: only a traced call
 * gets a frame, reserved before it is filled, keyed by (pkt, chain) in
 * place of the stack pointer; one pkt never re-enters the chain it is in,
 * and nested calls on a CPU are LIFO (see the fentry part above).
 */
SEC("fentry/nft_do_chain")
int fentry_nft_do_chain(__u64 *ctx)
{
	const struct nft_pktinfo *pkt = (const void *)itr_farg(ctx, 0);
	struct itr_nft_stack *st;
	struct itr_nft_frame *fr;
	__u32 zero = 0, depth;

	if (itr_nft_mode() == ITR_NFT_NONE || !pkt)
		return 0;
	/* The common case, an untraced packet, ends here (our own marking
	 * chain's call included: the mark is set inside it). */
	if (itr_cfg.marked_only && !itr_skb_nf_trace(itr_nft_pkt_skb(pkt)))
		return 0;
	st = bpf_map_lookup_elem(&nft_stack, &zero);
	if (!st)
		return 0;
	depth = itr_reserve_depth(st);
	if (depth >= ITR_STACK_DEPTH) {
		itr_stat_inc(ITR_STAT_STACK_FULL);
		return 0;
	}
	fr = &st->f[itr_slot(depth)];
	fr->sp = 0;
	fr->traced = 0;
	fr->start_ns = 0;
	st->depth = depth + 1;
	if (!itr_nft_want(fr, pkt, itr_farg(ctx, 1))) {
		/* Nested programs have popped what they pushed: we are the top. */
		st->depth = depth;
		return 0;
	}
	fr->traced = 1;
	fr->start_ns = bpf_ktime_get_ns();
	fr->sp = (__u64)pkt; /* the key, last: a frame without it is not found */
	return 0;
}

SEC("fexit/nft_do_chain")
int fexit_nft_do_chain(__u64 *ctx)
{
	struct itr_nft_stack *st;
	struct itr_event *ev;
	__u64 ret = 0, now;
	__u32 zero = 0, depth, slot, level;
	int found, send;

	if (itr_nft_mode() == ITR_NFT_NONE)
		return 0;
	st = bpf_map_lookup_elem(&nft_stack, &zero);
	if (!st)
		return 0;
	depth = st->depth;
	if (depth == 0)
		return 0; /* the common case: an untraced call, nothing to find */
	if (depth > ITR_STACK_DEPTH)
		depth = ITR_STACK_DEPTH;
	found = itr_find_frame(st, depth, sp, itr_farg(ctx, 0), chain, itr_farg(ctx, 1));
	if (found < 0 || found >= ITR_STACK_DEPTH)
		return 0;
	now = bpf_ktime_get_ns();
	ev = itr_fexit_begin(&level);
	if (!ev) {
		st->depth = found;
		return 0;
	}
	/* Copy the frame out, then pop it (a nested entry may reuse it). */
	ev->depth = found;
	slot = itr_reread_slot(&ev->depth);
	bpf_get_func_ret(ctx, &ret);
	send = itr_nft_event_fill(ev, &st->f[slot], (__u32)ret, now, slot);
	st->depth = slot;
	if (send)
		itr_event_send(ctx, ev);
	itr_fexit_done(level);
	return 0;
}
