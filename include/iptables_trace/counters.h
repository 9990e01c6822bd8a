/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The names the module, the BPF programs and user space share beyond the
 * event layout: what the kernel side counts, and the module's parameters.
 * Each is written here once; kmod/ declares its counters and parameters
 * from these names, bpf/ numbers its counters from the list, and src/
 * builds its name tables from the same lists, so a new entry reaches every
 * side and no table can be one entry short.
 *
 * Plain C and preprocessor only, no includes.
 */
#ifndef IPTABLES_TRACE_COUNTERS_H
#define IPTABLES_TRACE_COUNTERS_H

/* "name" from an identifier, after expanding it. */
#define ITR_NAME_(x) #x
#define ITR_NAME(x) ITR_NAME_(x)

/*
 * The BPF programs' per-CPU counters (map "stats", an array of __u64), in
 * index order: X(SUFFIX, name) gives ITR_STAT_<SUFFIX> and the name= the
 * exit summary shows.
 */
#define ITR_BPF_STATS(X)                                                    \
	X(ENTRY_SEEN, seen)             /* table entry programs run */        \
	X(ENTRY_MATCHED, matched)       /* ... of which the filter matched */ \
	X(STACK_FULL, stack_full)       /* matched, per-CPU stack full */     \
	X(RETURN_UNMATCHED, return_unmatched) /* no entry on the stack */     \
	X(OUTPUT_ERR, output_err)       /* bpf_perf_event_output failed */    \
	X(RULE_EVENTS, rule_events)     /* nf_log_trace events sent */

/*
 * The module's per-CPU counters, each readable as the module parameter of
 * its name, in the order the exit summary shows them: X(name, description).
 */
#define ITR_MODULE_COUNTERS(X)                                                      \
	X(marked, "packets whose nf_trace was set for a table call")                \
	X(skipped, "table calls the entry program declined")                        \
	X(silenced, "nf_log_trace calls for our packets kept out of the log")       \
	X(admin_passed, "nf_log_trace calls for already-traced packets, left to log") \
	X(admin_traced, "TRACE rules hit by packets we marked (their mark is kept)") \
	X(slots_full, "table calls not traced: the CPU's slot stack was full")      \
	X(copies, "table calls of TEE copies that inherited our mark (taken as 0)")

/*
 * The module's other parameters user space sets at insertion or reads
 * back. Identifiers, so that module_param_named() can take them; user
 * space writes ITR_NAME(ITR_PARAM_...).
 */
#define ITR_PARAM_PIN_DIR pin_dir           /* in: the bpffs folder of the pins */
#define ITR_PARAM_ABI abi                   /* in: ITR_ABI_VERSION */
#define ITR_PARAM_IPT_SKB_ARG ipt_skb_arg   /* in: skb argument of ipt_do_table */
#define ITR_PARAM_IP6T_SKB_ARG ip6t_skb_arg /* in: skb argument of ip6t_do_table */
#define ITR_PARAM_NFT_DO_CHAIN_ADDR nft_do_chain_addr /* out: where nft_do_chain is */
#define ITR_PARAM_MISSED missed             /* out: probe hits the kernel lost */
#define ITR_PARAM_NFT_MARKED nft_marked     /* in: 1 when our nft table marks packets */
#define ITR_PARAM_ARMED armed               /* out: 1 while the owner file is held open */
#define ITR_PARAM_OWNER_PID owner_pid       /* out: who armed the module (0 before) */
#define ITR_PARAM_OWNER_START owner_start   /* out: its start time, /proc/PID/stat field 22 */

#endif /* IPTABLES_TRACE_COUNTERS_H */
