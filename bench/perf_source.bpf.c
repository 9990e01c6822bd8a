// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Event source for itr_perf_bench: on every getppid() of one process, send
 * `burst` struct itr_event records (copies of templates that user space
 * filled with a realistic mix) into a perf event array, as the tracer's own
 * programs do. A raw tracepoint (sys_enter), because kprobes cannot attach
 * on the kernels of our development machines; the consumer side is the
 * project's real perf reader.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "iptables_trace/event.h"

#define NTEMPLATES 16 /* power of two */
#define MAX_BURST 64

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NTEMPLATES);
	__type(key, __u32);
	__type(value, struct itr_event);
} templates SEC(".maps");

const volatile __u32 target_tgid = 0;
const volatile __u32 syscall_nr = 110; /* __NR_getppid on x86-64 */
const volatile __u32 ntemplates = 1;   /* 1..NTEMPLATES */
__u32 burst = 1;                       /* 1..MAX_BURST, may change while running */

__u64 sent = 0;
__u64 failed = 0;
__u64 seq = 0;

SEC("raw_tracepoint/sys_enter")
int itr_bench_emit(struct bpf_raw_tracepoint_args *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	if (ctx->args[1] != syscall_nr)
		return 0;
	__u32 n = burst;
	for (__u32 i = 0; i < MAX_BURST; i++) {
		if (i >= n)
			break;
		__u32 k = (__u32)(seq++ % ntemplates) & (NTEMPLATES - 1);
		struct itr_event *ev = bpf_map_lookup_elem(&templates, &k);
		if (!ev)
			return 0;
		ev->ts_ns = bpf_ktime_get_ns();
		if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, ev, sizeof(*ev)))
			__sync_fetch_and_add(&failed, 1);
		else
			__sync_fetch_and_add(&sent, 1);
	}
	return 0;
}
