// SPDX-License-Identifier: GPL-2.0
/*
 * iptables_trace: the kernel half of iptables-trace.
 *
 * BPF tracing programs can neither set skb->nf_trace nor change a probed
 * function's arguments, so this module does both for them:
 *
 *  - a kretprobe on ipt_do_table (and ip6t_do_table) runs the pinned entry
 *    program; when it says the packet is one the user asked about, the
 *    module sets skb->nf_trace for the duration of that one table call, so
 *    the kernel reports every rule the packet matches through
 *    nf_log_trace(); on return it restores the packet's own nf_trace value
 *    and runs the pinned return program (verdict, cost);
 *  - a kprobe on nf_log_trace runs the pinned log program for the packets
 *    it marked, and for those the module marked itself it turns pf into
 *    NFPROTO_UNSPEC so that no logger is found and nothing reaches the
 *    kernel log. Packets that carried nf_trace already (an administrator's
 *    TRACE rule) keep logging, and packets the module did not mark are left
 *    alone entirely.
 *
 * The programs are loaded and pinned by user space (BPF_PROG_TYPE_KPROBE,
 * names in event.h) under the bpffs folder given as pin_dir.
 *
 * Re-entry. bpf_prog_run() called from a module skips the recursion guard
 * (bpf_prog_active) that the kernel's own kprobe path, trace_call_bpf(),
 * has. What keeps our programs from nesting on one CPU is kprobes itself:
 * every handler here runs with current_kprobe set on its CPU (the kretprobe
 * entry handler inside the kprobe pre-handler, the return handler inside
 * the trampoline/rethook handler which sets it too), and a kprobe hit while
 * current_kprobe is set only bumps that probe's nmissed. So neither our
 * handlers nor our programs can run inside themselves on one CPU; a nested
 * ipt_do_table (REJECT walking OUTPUT inside the outer call) is entered
 * after our entry handler has returned, which is what the per-CPU slot
 * stack below is for. The same holds for the copy xt_TEE makes
 * (nf_dup_ipv4/6 sends it through OUTPUT and POSTROUTING from inside the
 * table call that ran TEE), which itr_in_dup() recognises. Nothing in the
 * handlers calls into netfilter: they
 * touch only the skb's nf_trace bit, per-CPU slots and counters, and run the
 * programs, whose helpers (perf output, map updates, probe reads) do not
 * reach ipt_do_table, ip6t_do_table or nf_log_trace either.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/bpf.h>
#include <linux/cpumask.h>
#include <linux/filter.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <net/netfilter/nf_log.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/ptrace.h>
#include <linux/rcupdate.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/stddef.h>
#include <linux/version.h>

#include <iptables_trace/event.h>

#include "itr_slot.h"

#ifndef CONFIG_X86_64
#error "iptables_trace supports x86-64 only (argument registers are read by their x86-64 names)"
#endif

#if !IS_ENABLED(CONFIG_NETFILTER_XT_TARGET_TRACE) && !IS_ENABLED(CONFIG_NF_TABLES)
#error "skb->nf_trace is absent: the kernel needs CONFIG_NETFILTER_XT_TARGET_TRACE or CONFIG_NF_TABLES"
#endif

#if !defined(CONFIG_KRETPROBES) || !defined(CONFIG_BPF_SYSCALL)
#error "iptables_trace needs CONFIG_KRETPROBES and CONFIG_BPF_SYSCALL"
#endif

/* bpf_prog_run() replaced the BPF_PROG_RUN() macro in 5.15. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 15, 0)
#define itr_prog_run(prog, ctx) BPF_PROG_RUN(prog, ctx)
#else
#define itr_prog_run(prog, ctx) bpf_prog_run(prog, ctx)
#endif

/* ---- parameters ------------------------------------------------------- */

/*
 * Names user space also uses come from counters.h. MODULE_PARM_DESC
 * stringifies its argument as written: one more macro level expands the
 * ITR_PARAM_* name first.
 */
#define ITR_PARM_DESC(name, desc) MODULE_PARM_DESC(name, desc)

static char *pin_dir;
module_param_named(ITR_PARAM_PIN_DIR, pin_dir, charp, 0444);
ITR_PARM_DESC(ITR_PARAM_PIN_DIR, "bpffs folder holding the pinned programs (required)");

static int abi = -1;
module_param_named(ITR_PARAM_ABI, abi, int, 0444);
ITR_PARM_DESC(ITR_PARAM_ABI, "ABI version user space was built for; must equal the module's");

static int ipt_skb_arg = 1;
module_param_named(ITR_PARAM_IPT_SKB_ARG, ipt_skb_arg, int, 0444);
ITR_PARM_DESC(ITR_PARAM_IPT_SKB_ARG, "argument index (0..5) of the skb in ipt_do_table");

static int ip6t_skb_arg = 1;
module_param_named(ITR_PARAM_IP6T_SKB_ARG, ip6t_skb_arg, int, 0444);
ITR_PARM_DESC(ITR_PARAM_IP6T_SKB_ARG, "argument index (0..5) of the skb in ip6t_do_table");

/*
 * The table functions' prototype as the headers we are built against
 * declare it, recorded in .modinfo as "<skb><state><table>" argument
 * indexes ("120" since 5.16, "012" before, "???" if neither). User space
 * reads it from the module image and so needs no kernel BTF to pick the
 * argument layout at start-up; init refuses a skb index that disagrees.
 */
#define ITR_PROTO_NEW(fn)                                                 \
	__builtin_types_compatible_p(__typeof__(&(fn)),                   \
				     unsigned int (*)(void *, struct sk_buff *, \
						      const struct nf_hook_state *))
#define ITR_PROTO_OLD(fn)                                                 \
	__builtin_types_compatible_p(__typeof__(&(fn)),                   \
				     unsigned int (*)(struct sk_buff *,      \
						      const struct nf_hook_state *, \
						      struct xt_table *))
#define ITR_ARG(fn, new_idx, old_idx) \
	(ITR_PROTO_NEW(fn) ? (new_idx) : ITR_PROTO_OLD(fn) ? (old_idx) : '?')
#define ITR_LAYOUT_MODINFO(name, fn, ...)                                  \
	static const char name[] __used __aligned(1)                       \
		__attribute__((section(".modinfo"))) = {                   \
		__VA_ARGS__, '=', ITR_ARG(fn, '1', '0'),                   \
		ITR_ARG(fn, '2', '1'), ITR_ARG(fn, '0', '2'), '\0' }
ITR_LAYOUT_MODINFO(itr_modinfo_ipt_args, ipt_do_table,
		   'i', 't', 'r', '_', 'i', 'p', 't', '_', 'a', 'r', 'g', 's');
ITR_LAYOUT_MODINFO(itr_modinfo_ip6t_args, ip6t_do_table,
		   'i', 't', 'r', '_', 'i', 'p', '6', 't', '_', 'a', 'r', 'g', 's');

/*
 * The probed functions by address where we can: a kprobe given only a name
 * looks it up with kallsyms_lookup_name(), a walk over every kernel symbol
 * before 6.2 (twice for a kretprobe), which under an emulated CPU was most
 * of the start-up on 5.10 (120-160 ms a kretprobe). Weak references: the
 * loader leaves them NULL when the exporting module is not loaded, and then
 * the name is used (and -ENOENT says it is absent).
 */
extern typeof(ipt_do_table) ipt_do_table __weak;
extern typeof(ip6t_do_table) ip6t_do_table __weak;
extern typeof(nf_log_trace) nf_log_trace __weak;
/* nft_do_chain is probed by user space (libbpf); it takes the address from
 * here for the same reason (root-only parameter, 0 if nf_tables is not in). */
struct nft_pktinfo;
unsigned int nft_do_chain(struct nft_pktinfo *pkt, void *priv) __weak;
static unsigned long nft_do_chain_addr;
module_param_named(ITR_PARAM_NFT_DO_CHAIN_ADDR, nft_do_chain_addr, ulong, 0400);
ITR_PARM_DESC(ITR_PARAM_NFT_DO_CHAIN_ADDR, "address of nft_do_chain, 0 if unknown (read-only)");

/* Probe at `addr` when known, else by `symbol`. */
static void itr_kprobe_target(struct kprobe *kp, void *addr, const char *symbol)
{
	if (addr)
		kp->addr = (kprobe_opcode_t *)addr;
	else
		kp->symbol_name = symbol;
}

/* The compiled-in skb index, -1 when the prototype is not one we know. */
#define ITR_SKB_ARG(fn) (ITR_PROTO_NEW(fn) ? 1 : ITR_PROTO_OLD(fn) ? 0 : -1)

static int has_ip6;
module_param(has_ip6, int, 0444);
MODULE_PARM_DESC(has_ip6, "1 when ip6t_do_table is probed (read-only)");

/*
 * The owner. Marking is on only while the process that inserted us holds
 * /proc/<ITR_OWNER_PROC> open: it opens it right after insertion, and when
 * it dies in any way (kill -9, a crash) the kernel closes the file and
 * marking stops at once, before anyone removes the module. The probes stay
 * until then and only count. owner_pid/owner_start (the process's start
 * time in clock ticks since boot, as /proc/PID/stat field 22) and armed let
 * another instance, in any mount namespace, tell a live owner from a dead
 * one: only a module whose owner has closed the file is stale.
 */
static atomic_t itr_owned = ATOMIC_INIT(0); /* the file is open */
static int nft_marked;
module_param_named(ITR_PARAM_NFT_MARKED, nft_marked, int, 0444);
ITR_PARM_DESC(ITR_PARAM_NFT_MARKED, "1: our nftables table marks the filtered packets before the tables; their nf_trace is ours");

static int armed;
module_param_named(ITR_PARAM_ARMED, armed, int, 0444);
ITR_PARM_DESC(ITR_PARAM_ARMED, "1 while the owner holds the owner file open and packets are marked (read-only)");
static int owner_pid;
module_param_named(ITR_PARAM_OWNER_PID, owner_pid, int, 0444);
ITR_PARM_DESC(ITR_PARAM_OWNER_PID, "tgid of the process that armed the module, 0 before (read-only)");
static unsigned long long owner_start;
module_param_named(ITR_PARAM_OWNER_START, owner_start, ullong, 0444);
ITR_PARM_DESC(ITR_PARAM_OWNER_START, "start time of that process in clock ticks after boot (read-only)");

static int itr_owner_open(struct inode *inode, struct file *file)
{
	if (atomic_cmpxchg(&itr_owned, 0, 1) != 0)
		return -EBUSY;
	/* Only ever armed once: a module whose owner left is not re-used. */
	if (owner_pid) {
		atomic_set(&itr_owned, 0);
		return -ESTALE;
	}
	owner_pid = task_tgid_nr(current);
	owner_start = div_u64(current->group_leader->start_boottime, NSEC_PER_SEC / USER_HZ);
	WRITE_ONCE(armed, 1);
	return 0;
}

static int itr_owner_release(struct inode *inode, struct file *file)
{
	WRITE_ONCE(armed, 0);
	atomic_set(&itr_owned, 0);
	return 0;
}

static const struct proc_ops itr_owner_ops = {
	.proc_open = itr_owner_open,
	.proc_release = itr_owner_release,
};
static struct proc_dir_entry *itr_owner_file;

/* Counters: per CPU on the hot path, summed when read through sysfs. */
struct itr_stats {
#define ITR_STAT_FIELD(name, desc) unsigned long name;
	ITR_MODULE_COUNTERS(ITR_STAT_FIELD)
#undef ITR_STAT_FIELD
};

static DEFINE_PER_CPU(struct itr_stats, itr_stats);

#define itr_count(field) this_cpu_inc(itr_stats.field)

static int itr_stat_get(char *buffer, const struct kernel_param *kp)
{
	size_t off = (size_t)kp->arg;
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(*(unsigned long *)((char *)per_cpu_ptr(&itr_stats, cpu) + off));
	return sprintf(buffer, "%lu\n", sum);
}

static const struct kernel_param_ops itr_stat_ops = {
	.get = itr_stat_get,
};

#define ITR_STAT_PARAM(field, desc)					\
	module_param_cb(field, &itr_stat_ops,				\
			(void *)offsetof(struct itr_stats, field), 0444); \
	MODULE_PARM_DESC(field, desc);

ITR_MODULE_COUNTERS(ITR_STAT_PARAM)

/* ---- programs and probes ---------------------------------------------- */

struct itr_table_probe {
	struct kretprobe rp;
	struct bpf_prog *entry;
	struct bpf_prog *ret;
	int skb_arg;
	bool registered;
};

static struct itr_table_probe itr_ipt;
static struct itr_table_probe itr_ip6t;
static struct kprobe itr_log_kp;
static struct bpf_prog *itr_log_prog;
static bool itr_log_registered;
static struct kprobe itr_trace_kp;
static bool itr_trace_registered;

static int has_trace_tg;
module_param(has_trace_tg, int, 0444);
MODULE_PARM_DESC(has_trace_tg, "1 when xt_TRACE's target is probed (read-only)");

static int itr_missed_get(char *buffer, const struct kernel_param *kp)
{
	unsigned long sum = 0;

	if (itr_ipt.registered)
		sum += itr_ipt.rp.nmissed + itr_ipt.rp.kp.nmissed;
	if (itr_ip6t.registered)
		sum += itr_ip6t.rp.nmissed + itr_ip6t.rp.kp.nmissed;
	if (itr_log_registered)
		sum += itr_log_kp.nmissed;
	if (itr_trace_registered)
		sum += itr_trace_kp.nmissed;
	return sprintf(buffer, "%lu\n", sum);
}

static const struct kernel_param_ops itr_missed_ops = {
	.get = itr_missed_get,
};

module_param_cb(ITR_PARAM_MISSED, &itr_missed_ops, NULL, 0444);
ITR_PARM_DESC(ITR_PARAM_MISSED, "probe hits lost: no free kretprobe instance, or a probe hit inside another handler");

/* ---- marked slots ----------------------------------------------------- */

/*
 * Each CPU keeps a small stack of the skbs it marked and whose table call
 * has not returned yet: nested calls on one CPU (REJECT answering from
 * inside the outer call, a TEE copy walking OUTPUT, softirq on top of a
 * process-context OUTPUT walk) each take their own slot. A slot is one
 * word, the skb address with the flags of itr_slot.h in its low bits, so
 * claims (cmpxchg) and lookups (a single load) never see half a slot. A slot is
 * released by the CPU and index recorded in the kretprobe instance: under
 * full preemption a task may migrate between the entry and the return of
 * ipt_do_table, so the release and the nf_log_trace lookup may come from
 * another CPU, hence plain atomics rather than this_cpu operations.
 */
#define ITR_SLOTS 8

static DEFINE_PER_CPU(unsigned long[ITR_SLOTS], itr_slots);

static int itr_slot_claim(unsigned int cpu, unsigned long val)
{
	unsigned long *slots = per_cpu(itr_slots, cpu);
	int i;

	for (i = 0; i < ITR_SLOTS; i++) {
		if (READ_ONCE(slots[i]))
			continue;
		if (cmpxchg(&slots[i], 0UL, val) == 0UL)
			return i;
	}
	return -1;
}

static void itr_slot_release(unsigned int cpu, int idx)
{
	smp_store_release(&per_cpu(itr_slots, cpu)[idx], 0UL);
}

static unsigned long *itr_slot_find_on(unsigned int cpu, const void *skb,
				       const unsigned long *skip)
{
	unsigned long *slots = per_cpu(itr_slots, cpu);
	int i;

	/* Newest first: an outer call claimed a lower index than an inner one
	 * only when no slot below was free, so scan downwards. */
	for (i = ITR_SLOTS - 1; i >= 0; i--) {
		unsigned long v = READ_ONCE(slots[i]);

		if (&slots[i] == skip)
			continue;
		if (v && itr_slot_skb(v) == (unsigned long)skb)
			return &slots[i];
	}
	return NULL;
}

/* The newest marked call in flight on this CPU, 0 if none. */
static unsigned long itr_slot_newest(unsigned int cpu)
{
	unsigned long *slots = per_cpu(itr_slots, cpu);
	int i;

	for (i = ITR_SLOTS - 1; i >= 0; i--) {
		unsigned long v = READ_ONCE(slots[i]);

		if (v)
			return v;
	}
	return 0;
}

/*
 * Whether a packet duplication runs on this CPU: nf_dup_ipv4/6 set this
 * flag around the copy's ip_local_out (a per-CPU bool in
 * include/linux/netfilter.h up to 6.14 - 5.10, 6.1 and 6.12 have it - a bit
 * in task_struct since). Kbuild finds which one the headers declare; with
 * neither, no packet is taken for a copy.
 */
#if defined(ITR_HAVE_IN_NF_DUPLICATE) || defined(ITR_HAVE_NF_SKB_DUPLICATED)
#define ITR_DUP_KNOWN 1
#else
#define ITR_DUP_KNOWN 0
#endif

static bool itr_in_dup(void)
{
#if defined(ITR_HAVE_IN_NF_DUPLICATE)
	return current->in_nf_duplicate;
#elif defined(ITR_HAVE_NF_SKB_DUPLICATED)
	return __this_cpu_read(nf_skb_duplicated);
#else
	return false;
#endif
}

/* The slot holding skb, this CPU first, or NULL if the skb is not ours. */
static unsigned long *itr_slot_find(const void *skb, const unsigned long *skip)
{
	unsigned int self = smp_processor_id();
	unsigned long *slot;
	int cpu;

	slot = itr_slot_find_on(self, skb, skip);
	if (slot)
		return slot;
	for_each_possible_cpu(cpu) {
		if (cpu == self)
			continue;
		slot = itr_slot_find_on(cpu, skb, skip);
		if (slot)
			return slot;
	}
	return NULL;
}

/* ---- table probes ----------------------------------------------------- */

/* Per kretprobe instance: what the return handler needs. */
struct itr_call {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	struct sk_buff *skb;
	u32 cpu;
	u32 slot;
};

static u32 itr_run(const struct bpf_prog *prog, struct pt_regs *regs)
{
	u32 ret;

	rcu_read_lock();
	ret = itr_prog_run(prog, regs);
	rcu_read_unlock();
	return ret;
}

static int itr_table_entry(struct itr_table_probe *tp,
			   struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct itr_call *call = (struct itr_call *)ri->data;
	unsigned int cpu = smp_processor_id();
	struct sk_buff *skb;
	unsigned long val, *outer;
	bool copy = false;
	int slot;

	skb = (struct sk_buff *)regs_get_kernel_argument(regs, tp->skb_arg);
	if (!skb)
		return 1;

	/* A TEE copy of a packet we marked carries our mark without a slot:
	 * its own value is 0. Recognised even once disarmed (the original's
	 * call may still be in flight), so that it never leaves with it. */
	if (unlikely(skb->nf_trace) && itr_in_dup()) {
		outer = itr_slot_find_on(cpu, skb, NULL);
		copy = itr_copy_of_ours(1, 1, outer ? READ_ONCE(*outer) : 0,
					itr_slot_newest(cpu));
		if (copy)
			itr_count(copies);
	}

	if (!READ_ONCE(armed))
		goto untraced;

	/* Claim first: with no free slot the entry program must not run, or
	 * it would push state that no return program pops. The slot's final
	 * value comes below; a claimed slot only has to hold the address. */
	slot = itr_slot_claim(cpu, (unsigned long)skb);
	if (slot < 0) {
		itr_count(slots_full);
		goto untraced;
	}

	if (!itr_run(tp->entry, regs)) {
		itr_slot_release(cpu, slot);
		itr_count(skipped);
		goto untraced;
	}

	outer = NULL;
	if (skb->nf_trace && !copy)
		outer = itr_slot_find(skb, &per_cpu(itr_slots, cpu)[slot]);
	val = itr_slot_entry((unsigned long)skb, skb->nf_trace,
			     READ_ONCE(nft_marked), outer ? READ_ONCE(*outer) : 0,
			     copy);
	WRITE_ONCE(per_cpu(itr_slots, cpu)[slot], val);

	call->di = regs->di;
	call->si = regs->si;
	call->dx = regs->dx;
	call->skb = skb;
	call->cpu = cpu;
	call->slot = slot;

	if (!skb->nf_trace)
		skb->nf_trace = 1;
	itr_count(marked);
	return 0;

untraced:
	/* Not traced in this call: a copy's inherited mark goes now. */
	if (copy)
		skb->nf_trace = 0;
	return 1;
}

static int itr_table_return(struct itr_table_probe *tp,
			    struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct itr_call *call = (struct itr_call *)ri->data;
	unsigned long verdict = regs_return_value(regs);
	unsigned long v = READ_ONCE(per_cpu(itr_slots, call->cpu)[call->slot]);
	struct pt_regs ctx;

	/* The value this entry saw (ours too when the same skb re-entered
	 * inside one of our calls), or 1 if a TRACE rule set it during the
	 * call (itr_trace_tg_pre). On NF_STOLEN the table handed the skb on
	 * (or freed it): hands off. */
	if ((verdict & NF_VERDICT_MASK) != NF_STOLEN)
		call->skb->nf_trace = itr_slot_restore(v);
	itr_slot_release(call->cpu, call->slot);

	memset(&ctx, 0, sizeof(ctx));
	ctx.di = call->di;
	ctx.si = call->si;
	ctx.dx = call->dx;
	ctx.ax = verdict;
	itr_run(tp->ret, &ctx);
	return 0;
}

/* One pair of handlers per table function: no lookup from the instance back
 * to its kretprobe, whose spelling changed in 5.11. */
static int itr_ipt_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return itr_table_entry(&itr_ipt, ri, regs);
}

static int itr_ipt_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return itr_table_return(&itr_ipt, ri, regs);
}

static int itr_ip6t_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return itr_table_entry(&itr_ip6t, ri, regs);
}

static int itr_ip6t_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	return itr_table_return(&itr_ip6t, ri, regs);
}

/* ---- nf_log_trace ----------------------------------------------------- */

/*
 * nf_log_trace(net, pf, hooknum, skb, in, out, loginfo, fmt, ...):
 * pf in si, skb in cx. Setting si to NFPROTO_UNSPEC makes the call find no
 * logger; the log program has read the arguments before that.
 */
static int itr_log_pre(struct kprobe *p, struct pt_regs *regs)
{
	unsigned long *slot = itr_slot_find((const void *)regs->cx, NULL);

	if (!slot)
		return 0;

	itr_run(itr_log_prog, regs);
	if (!itr_slot_silenced(READ_ONCE(*slot))) {
		itr_count(admin_passed);
	} else {
		regs->si = NFPROTO_UNSPEC;
		itr_count(silenced);
	}
	return 0;
}

/*
 * An administrator's TRACE rule hit by a packet we marked: xt_TRACE's target
 * sets nf_trace, which our return handler would undo. Record it as the
 * packet's own value instead, so it survives the call, and from here on the
 * packet's nf_log_trace calls log as the administrator asked. Probed only
 * when xt_TRACE is loaded at our init (user space loads it first when it
 * can); without it a TRACE rule added later is undone for packets we mark
 * in that same table call.
 */
static int itr_trace_tg_pre(struct kprobe *p, struct pt_regs *regs)
{
	unsigned long skb = regs->di;
	bool hit = false;
	int cpu, i;

	/* Every call of ours for this skb: an outer one (the same skb
	 * re-entered a table inside it) keeps the mark at its return too.
	 * cmpxchg: a slot released and claimed again meanwhile is left alone. */
	for_each_possible_cpu(cpu) {
		unsigned long *slots = per_cpu(itr_slots, cpu);

		for (i = 0; i < ITR_SLOTS; i++) {
			unsigned long v = READ_ONCE(slots[i]);

			if (v && itr_slot_skb(v) == skb) {
				cmpxchg(&slots[i], v, itr_slot_traced(v));
				hit = true;
			}
		}
	}
	if (hit)
		itr_count(admin_traced);
	return 0;
}

/* ---- setup and teardown ----------------------------------------------- */

static struct bpf_prog *itr_prog_get(const char *name)
{
	struct bpf_prog *prog;
	char *path;

	path = kasprintf(GFP_KERNEL, "%s/%s", pin_dir, name);
	if (!path)
		return ERR_PTR(-ENOMEM);
	prog = bpf_prog_get_type_path(path, BPF_PROG_TYPE_KPROBE);
	if (IS_ERR(prog) && PTR_ERR(prog) != -ENOENT)
		pr_err("cannot take program %s: error %ld\n", path, PTR_ERR(prog));
	kfree(path);
	return prog;
}

static void itr_prog_put(struct bpf_prog **prog)
{
	if (!IS_ERR_OR_NULL(*prog))
		bpf_prog_put(*prog);
	*prog = NULL;
}

static int itr_table_register(struct itr_table_probe *tp, void *addr,
			      const char *symbol, int skb_arg,
			      kretprobe_handler_t entry, kretprobe_handler_t ret)
{
	int maxactive = min_t(int, 64 * num_possible_cpus(), 16384);
	int err;

	tp->skb_arg = skb_arg;
	itr_kprobe_target(&tp->rp.kp, addr, symbol);
	tp->rp.entry_handler = entry;
	tp->rp.handler = ret;
	tp->rp.data_size = sizeof(struct itr_call);
	tp->rp.maxactive = maxactive;
	err = register_kretprobe(&tp->rp);
	if (err)
		return err;
	tp->registered = true;
	return 0;
}

static void itr_table_unregister(struct itr_table_probe *tp)
{
	if (tp->registered)
		unregister_kretprobe(&tp->rp);
	tp->registered = false;
}

static void itr_kprobes_unregister(void)
{
	if (itr_trace_registered)
		unregister_kprobe(&itr_trace_kp);
	itr_trace_registered = false;
	if (itr_log_registered)
		unregister_kprobe(&itr_log_kp);
	itr_log_registered = false;
}

static void itr_put_all(void)
{
	itr_prog_put(&itr_ipt.entry);
	itr_prog_put(&itr_ipt.ret);
	itr_prog_put(&itr_ip6t.entry);
	itr_prog_put(&itr_ip6t.ret);
	itr_prog_put(&itr_log_prog);
}

static int __init itr_take_programs(void)
{
	static const struct {
		struct bpf_prog **prog;
		const char *name;
	} required[] = {
		{ &itr_ipt.entry, ITR_PIN_IPT_ENTRY },
		{ &itr_ipt.ret, ITR_PIN_IPT_RETURN },
		{ &itr_log_prog, ITR_PIN_LOG_TRACE },
	};
	int i;

	for (i = 0; i < ARRAY_SIZE(required); i++) {
		struct bpf_prog *prog = itr_prog_get(required[i].name);

		if (IS_ERR(prog)) {
			/* -ENOENT stays reserved for a missing probe symbol
			 * (ip_tables not loaded), which user space explains. */
			if (PTR_ERR(prog) == -ENOENT) {
				pr_err("program %s/%s is not pinned\n", pin_dir,
				       required[i].name);
				return -ENODATA;
			}
			return PTR_ERR(prog);
		}
		*required[i].prog = prog;
	}

	/* IPv6 is optional: both programs, or none. */
	itr_ip6t.entry = itr_prog_get(ITR_PIN_IP6T_ENTRY);
	itr_ip6t.ret = itr_prog_get(ITR_PIN_IP6T_RETURN);
	for (i = 0; i < 2; i++) {
		struct bpf_prog *prog = i ? itr_ip6t.ret : itr_ip6t.entry;

		if (IS_ERR(prog) && PTR_ERR(prog) != -ENOENT)
			return PTR_ERR(prog);
	}
	if (IS_ERR(itr_ip6t.entry) || IS_ERR(itr_ip6t.ret)) {
		if (!IS_ERR(itr_ip6t.entry) || !IS_ERR(itr_ip6t.ret))
			pr_info("only one of %s, %s is pinned: IPv6 not traced\n",
				ITR_PIN_IP6T_ENTRY, ITR_PIN_IP6T_RETURN);
		itr_prog_put(&itr_ip6t.entry);
		itr_prog_put(&itr_ip6t.ret);
	}
	return 0;
}

static int __init itr_init(void)
{
	int err;

	if (abi != ITR_ABI_VERSION) {
		pr_err("abi=%d given, this module speaks ABI %d: use the iptables-trace binary it was built with\n",
		       abi, ITR_ABI_VERSION);
		return -EINVAL;
	}
	if (!pin_dir || !*pin_dir) {
		pr_err("pin_dir= (the bpffs folder of the pinned programs) is required\n");
		return -EINVAL;
	}
	if (ipt_skb_arg < 0 || ipt_skb_arg > 5 || ip6t_skb_arg < 0 ||
	    ip6t_skb_arg > 5) {
		pr_err("ipt_skb_arg=%d ip6t_skb_arg=%d: each must be 0..5\n",
		       ipt_skb_arg, ip6t_skb_arg);
		return -EINVAL;
	}

	if (ITR_SKB_ARG(ipt_do_table) >= 0 && ipt_skb_arg != ITR_SKB_ARG(ipt_do_table)) {
		pr_err("ipt_skb_arg=%d: this kernel's prototype puts skb in argument %d\n",
		       ipt_skb_arg, ITR_SKB_ARG(ipt_do_table));
		return -EINVAL;
	}

	nft_do_chain_addr = (unsigned long)nft_do_chain;

	err = itr_take_programs();
	if (err)
		goto put;
	/* The IPv6 layout matters only when IPv6 is traced: a host without
	 * ip6_tables has no layout to give. */
	if (itr_ip6t.entry && ITR_SKB_ARG(ip6t_do_table) >= 0 &&
	    ip6t_skb_arg != ITR_SKB_ARG(ip6t_do_table)) {
		pr_err("ip6t_skb_arg=%d: this kernel's prototype puts skb in argument %d\n",
		       ip6t_skb_arg, ITR_SKB_ARG(ip6t_do_table));
		err = -EINVAL;
		goto put;
	}

	/* nf_log_trace first: once packets get marked their logs must already
	 * be kept out of the kernel log. */
	itr_kprobe_target(&itr_log_kp, (void *)nf_log_trace, "nf_log_trace");
	itr_log_kp.pre_handler = itr_log_pre;
	err = register_kprobe(&itr_log_kp);
	if (err) {
		pr_err("cannot probe nf_log_trace: error %d\n", err);
		goto put;
	}
	itr_log_registered = true;

	itr_trace_kp.symbol_name = "trace_tg";
	itr_trace_kp.pre_handler = itr_trace_tg_pre;
	if (register_kprobe(&itr_trace_kp) == 0)
		itr_trace_registered = true;
	has_trace_tg = itr_trace_registered;

	err = itr_table_register(&itr_ipt, (void *)ipt_do_table, "ipt_do_table",
				 ipt_skb_arg, itr_ipt_entry, itr_ipt_return);
	if (err) {
		pr_err("cannot probe ipt_do_table: error %d%s\n", err,
		       err == -ENOENT ? " (is ip_tables loaded?)" : "");
		goto unregister;
	}

	if (itr_ip6t.entry) {
		err = itr_table_register(&itr_ip6t, (void *)ip6t_do_table,
					 "ip6t_do_table", ip6t_skb_arg,
					 itr_ip6t_entry, itr_ip6t_return);
		if (err == -ENOENT) {
			pr_info("ip6t_do_table not found (ip6_tables not loaded): IPv6 not traced\n");
			itr_prog_put(&itr_ip6t.entry);
			itr_prog_put(&itr_ip6t.ret);
			err = 0;
		} else if (err) {
			pr_err("cannot probe ip6t_do_table: error %d\n", err);
			goto unregister;
		}
	}
	has_ip6 = itr_ip6t.registered;

	itr_owner_file = proc_create(ITR_OWNER_PROC, 0600, NULL, &itr_owner_ops);
	if (!itr_owner_file) {
		pr_err("cannot create /proc/%s\n", ITR_OWNER_PROC);
		err = -ENOMEM;
		goto unregister;
	}

	pr_info("tracing from %s (ABI %d, IPv6 %s, TRACE rules %s, TEE copies %s)\n",
		pin_dir, ITR_ABI_VERSION, has_ip6 ? "on" : "off",
		has_trace_tg ? "kept" : "not watched (xt_TRACE not loaded)",
		ITR_DUP_KNOWN ? "recognised" : "not recognised (no duplication flag in these headers)");
	return 0;

unregister:
	itr_table_unregister(&itr_ip6t);
	itr_table_unregister(&itr_ipt);
	itr_kprobes_unregister();
put:
	itr_put_all();
	return err;
}

/* Whether any CPU still has a marked table call in flight. */
static bool itr_slots_busy(void)
{
	int cpu, i;

	for_each_possible_cpu(cpu)
		for (i = 0; i < ITR_SLOTS; i++)
			if (READ_ONCE(per_cpu(itr_slots, cpu)[i]))
				return true;
	return false;
}

static void __exit itr_exit(void)
{
	unsigned long deadline;

	/* Stop marking, then let the calls in flight return through our
	 * handler, which restores their nf_trace: unregistering a kretprobe
	 * drops the return handler of calls still running, and their packets
	 * would keep nf_trace=1 (and log, once the log probe is gone). A call
	 * blocked for seconds (a queue verdict does not block in the table)
	 * is not waited for beyond the deadline. */
	WRITE_ONCE(armed, 0);
	proc_remove(itr_owner_file);
	deadline = jiffies + 2 * HZ;
	while (itr_slots_busy() && time_before(jiffies, deadline))
		msleep(1);
	if (itr_slots_busy())
		pr_warn("table calls still marked after 2 s: their nf_trace is not restored\n");

	/* Table probes next: calls entered meanwhile were not marked, and
	 * unregister_k(ret)probe waits for running handlers. */
	itr_table_unregister(&itr_ip6t);
	itr_table_unregister(&itr_ipt);
	itr_kprobes_unregister();
	itr_put_all();
}

module_init(itr_init);
module_exit(itr_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iptables-trace: marks filtered packets for xtables tracing and runs its BPF programs");
MODULE_INFO(itr_abi, __stringify(ITR_ABI_VERSION));
