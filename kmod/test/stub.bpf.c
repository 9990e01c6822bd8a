// SPDX-License-Identifier: GPL-2.0
/*
 * Stand-in programs for the module smoke test (kmod/test/vm-smoke.sh): the
 * pins the module takes, with the contract of event.h, but only counting.
 * The entry programs select ICMP to 127.0.0.2, .4, .5 and ICMP errors.
 * Built with -DSKB_ARG=0 (before 5.16) or 1.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

enum {
	C_ENTRY,	/* ipt entry programs run */
	C_ENTRY_YES,	/* ... that said yes */
	C_RETURN,	/* ipt return programs run */
	C_RETURN_TRACE,	/* ... where the skb still had nf_trace set */
	C_RETURN_BADCTX,/* ... whose ctx skb was not a selected packet */
	C_LOG,		/* nf_log_trace programs run */
	C_LOG_PF0,	/* ... that saw pf already 0 */
	C_IP6_ENTRY,	/* ip6t entry programs run */
	C_IP6_RETURN,	/* ip6t return programs run */
	C_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} cnt SEC(".maps");

static __always_inline void bump(__u32 k)
{
	__u64 *v = bpf_map_lookup_elem(&cnt, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline struct sk_buff *skb_of(struct pt_regs *ctx)
{
	return (struct sk_buff *)(SKB_ARG ? PT_REGS_PARM2(ctx) : PT_REGS_PARM1(ctx));
}

static __always_inline int selected(struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	struct iphdr iph;
	__u8 icmp_type = 0;
	__u32 d;

	if (bpf_probe_read_kernel(&iph, sizeof(iph), head + nh))
		return 0;
	if (iph.version != 4 || iph.protocol != 1)
		return 0;
	bpf_probe_read_kernel(&icmp_type, 1, head + nh + iph.ihl * 4);
	d = bpf_ntohl(iph.daddr);
	return d == 0x7f000002 || d == 0x7f000004 || d == 0x7f000005 || icmp_type == 3;
}

SEC("kprobe/ipt_do_table")
int ipt_entry(struct pt_regs *ctx)
{
	bump(C_ENTRY);
	if (!selected(skb_of(ctx)))
		return 0;
	bump(C_ENTRY_YES);
	return 1;
}

SEC("kprobe/ipt_do_table")
int ipt_return(struct pt_regs *ctx)
{
	struct sk_buff *skb = skb_of(ctx);

	bump(C_RETURN);
	if (!selected(skb))
		bump(C_RETURN_BADCTX);
	if (BPF_CORE_READ_BITFIELD_PROBED(skb, nf_trace))
		bump(C_RETURN_TRACE);
	return 0;
}

SEC("kprobe/nf_log_trace")
int log_trace(struct pt_regs *ctx)
{
	bump(C_LOG);
	if (PT_REGS_PARM2(ctx) == 0)
		bump(C_LOG_PF0);
	return 0;
}

SEC("kprobe/ip6t_do_table")
int ip6t_entry(struct pt_regs *ctx)
{
	bump(C_IP6_ENTRY);
	return 0;
}

SEC("kprobe/ip6t_do_table")
int ip6t_return(struct pt_regs *ctx)
{
	bump(C_IP6_RETURN);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
