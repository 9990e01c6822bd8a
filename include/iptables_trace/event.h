/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The one definition of everything that crosses the kernel/user boundary:
 * the perf-buffer event, the BPF configuration in .rodata, the pin names
 * the module looks up, and the ABI version the module checks (the names of
 * counters and module parameters are in counters.h, included here).
 *
 * Included by bpf/ (after vmlinux.h), kmod/ (__KERNEL__) and src/ (C++).
 * Plain C: fixed-width types, explicit padding, no bool, no bitfields,
 * no pointers (kernel addresses travel as __u64).
 */
#ifndef IPTABLES_TRACE_EVENT_H
#define IPTABLES_TRACE_EVENT_H

#if defined(__KERNEL__)
#include <linux/types.h>
#elif defined(__VMLINUX_H__) || defined(__bpf__)
/* BPF: types come from vmlinux.h, included before this header. */
#else
#include <linux/types.h>
#endif

#include "counters.h"

#ifdef __cplusplus
#define ITR_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define ITR_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Bumped on any change to this file's layouts or to the module contract. */
#define ITR_ABI_VERSION 2

#define ITR_MODULE_NAME "iptables_trace"
/* /proc/<name>: the module marks packets only while its owner holds this
 * file open (ABI 2); closing it, or the owner's death, stops marking. */
#define ITR_OWNER_PROC "iptables_trace_owner"

/* Pinned BPF programs, by file name inside the pin folder given to the
 * module as its pin_dir parameter. All are BPF_PROG_TYPE_KPROBE. */
#define ITR_PIN_IPT_ENTRY "ipt_entry"
#define ITR_PIN_IPT_RETURN "ipt_return"
#define ITR_PIN_IP6T_ENTRY "ip6t_entry"
#define ITR_PIN_IP6T_RETURN "ip6t_return"
#define ITR_PIN_LOG_TRACE "log_trace"

#define ITR_IFNAMSIZ 16
#define ITR_TABLE_LEN 32  /* XT_TABLE_MAXNAMELEN */
#define ITR_CHAIN_LEN 32  /* xtables user chain names are at most 29 */
#define ITR_NFT_NAME_LEN 64 /* nft names may be longer: truncated, flagged */

enum itr_event_kind {
	ITR_EV_RULE = 1,  /* nf_log_trace: a rule matched, or return / policy */
	ITR_EV_TABLE = 2, /* one ipt_do_table / ip6t_do_table call returned */
	ITR_EV_NFT = 3,   /* one nft_do_chain call (a base chain) returned */
};

/* What nf_log_trace's comment argument said. */
enum itr_rule_kind {
	ITR_RULE_RULE = 0,
	ITR_RULE_RETURN = 1,
	ITR_RULE_POLICY = 2,
	ITR_RULE_UNKNOWN = 3,
};

/* Netfilter protocol families (NFPROTO_*), as the kernel numbers them. */
enum itr_nfproto {
	ITR_NFPROTO_UNSPEC = 0,
	ITR_NFPROTO_INET = 1,
	ITR_NFPROTO_IPV4 = 2,
	ITR_NFPROTO_ARP = 3,
	ITR_NFPROTO_NETDEV = 5,
	ITR_NFPROTO_BRIDGE = 7,
	ITR_NFPROTO_IPV6 = 10,
};

/* Event flags. */
#define ITR_F_HAS_MAC (1u << 0)      /* dst_mac was read from a set mac header */
#define ITR_F_HAS_PORTS (1u << 1)    /* sport/dport valid (TCP, UDP, SCTP, UDPLITE) */
#define ITR_F_HAS_ICMP (1u << 2)     /* icmp_type/code (and id/seq for echo) valid */
#define ITR_F_HAS_COST (1u << 3)     /* cost_ns valid (entry seen for this return) */
#define ITR_F_TRUNCATED (1u << 4)    /* a name was longer than its field */
#define ITR_F_NO_L3 (1u << 5)        /* no IPv4/IPv6 header could be read */
#define ITR_F_ADMIN_TRACE (1u << 6)  /* packet already had nf_trace set by someone else */

/* The packet as the probe saw it. Addresses and ports in network order. */
struct itr_pkt {
	__u64 skb;          /* kernel address, an identity only */
	__u32 netns;        /* inode of the packet's network namespace */
	__u32 ifindex;      /* skb->dev ifindex, 0 if none */
	char ifname[ITR_IFNAMSIZ]; /* skb->dev name, "" if none */
	__u8 dst_mac[6];
	__u8 ip_version;    /* 4, 6, or 0 when no L3 header was read */
	__u8 l4proto;       /* IPPROTO_* after IPv6 extension headers */
	__u16 ip_len;       /* IPv4 tot_len, IPv6 payload_len + 40, host order */
	__u16 sport_be;     /* network order */
	__u16 dport_be;     /* network order */
	__u8 tcp_flags;     /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80 */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 _pad0;
	__u16 icmp_id_be;   /* network order, echo only */
	__u16 icmp_seq_be;  /* network order, echo only */
	__u8 saddr[16];     /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 _pad1;
};
ITR_STATIC_ASSERT(sizeof(struct itr_pkt) == 88, "itr_pkt layout");

struct itr_event {
	__u64 ts_ns;        /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cost_ns;      /* ITR_EV_TABLE / ITR_EV_NFT: time spent in the call */
	__u32 kind;         /* enum itr_event_kind */
	__u32 flags;        /* ITR_F_* */
	__u32 cpu;
	__u32 pid;          /* tgid of current: unrelated to the packet in softirq */
	__u32 hook;         /* NF_INET_* hook number */
	__u32 pf;           /* enum itr_nfproto of the table or chain */
	__u32 verdict;      /* raw return value (TABLE, NFT); upper 16 bits = queue number
			     * (QUEUE) or errno (DROP). NFT: a drop that nft_do_chain
			     * returns as (errno << 16) | NF_STOLEN (NF_DROP_REASON, 6.1.19x
			     * and 6.8+) arrives as (errno << 16) | NF_DROP */
	__u32 rulenum;      /* RULE: rule number as iptables -L --line-numbers counts */
	__u32 rule_kind;    /* RULE: enum itr_rule_kind */
	__u32 depth;        /* nesting depth of the table call on this CPU, 0 = outermost */
	char table[ITR_TABLE_LEN];
	char chain[ITR_NFT_NAME_LEN]; /* RULE: xtables chain; NFT: base chain */
	char in_dev[ITR_IFNAMSIZ];    /* nf_hook_state in/out device names */
	char out_dev[ITR_IFNAMSIZ];
	struct itr_pkt pkt;
};
ITR_STATIC_ASSERT(sizeof(struct itr_event) == 272, "itr_event layout");

/* Where the entry program finds its arguments: index 0..5 of the x86-64
 * argument registers. Decided in user space from BTF (the prototype changed
 * in 5.16), passed down as data so one program body serves both. */
struct itr_arg_layout {
	__u8 skb;
	__u8 state;
	__u8 table;
	__u8 valid;  /* 0: function absent, program must not be used */
};

/* Filter protocol values: an IPPROTO_* number, or 0 for any. */
#define ITR_PROTO_ANY 0

struct itr_config {
	struct itr_arg_layout ipt;
	struct itr_arg_layout ip6t;
	__u32 abi_version;
	/* Filters; each one is used only when its has_ flag is set, and all
	 * of them must match (AND). */
	__u8 has_addr;
	__u8 addr_version;   /* 4 or 6 */
	__u8 proto;          /* IPPROTO_* or ITR_PROTO_ANY */
	__u8 has_port;
	__u8 has_icmp_id;
	__u8 has_pid;
	__u8 has_netns;
	__u8 mode;           /* ITR_MODE_*: who runs the table programs */
	__u16 port_be;       /* network order, matches source or destination */
	__u16 icmp_id_be;    /* network order, ICMP / ICMPv6 echo id */
	__u32 pid;           /* tgid */
	__u32 netns;         /* netns inode */
	__u8 addr[16];       /* matches source or destination */
	/* ITR_MODE_KPROBES: our nftables table marks every packet the filter
	 * takes before any table or chain call we follow (kernels where it
	 * can mark socketless OUTPUT packets too), so a call whose skb has
	 * no nf_trace is not ours: the programs stop after that one read. */
	__u8 marked_only;
	__u8 _pad[7];
};
ITR_STATIC_ASSERT(sizeof(struct itr_config) == 56, "itr_config layout");

/* itr_config.mode. MODULE: our kernel module runs the table programs,
 * marks what they accept and calls the return program only for those.
 * KPROBES: libbpf attaches them as kprobes / kretprobes (no module): every
 * call's return fires, so every call gets a frame, and marking is done
 * elsewhere (an nftables table), so nf_trace on entry says nothing about
 * who set it. */
#define ITR_MODE_MODULE 0
#define ITR_MODE_KPROBES 1
/* The module runs them, and our nftables table marks the filtered packets
 * before the tables (for nf_tables rule events): nf_trace on entry is ours. */
#define ITR_MODE_MODULE_NFT 2
/* The nftables table (family inet) that marks packets in ITR_MODE_KPROBES
 * and ITR_MODE_MODULE_NFT: its chain's calls are not reported. */
#define ITR_OWN_NFT_TABLE "iptables_trace"

/* Per-CPU counters the BPF side keeps (map "stats", an array of __u64),
 * numbered from their one list in counters.h. */
enum itr_stat {
#define ITR_STAT_ENUM(suffix, name) ITR_STAT_##suffix,
	ITR_BPF_STATS(ITR_STAT_ENUM)
#undef ITR_STAT_ENUM
	ITR_STAT_MAX,
};

#endif /* IPTABLES_TRACE_EVENT_H */
