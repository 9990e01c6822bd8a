/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The packet filter, in the order the entry programs apply it: the checks
 * that need no packet data first (pid, netns, address family), then the L3
 * ones (address, protocol), then the L4 ones (port, ICMP echo id). Every
 * filter that is set must match. itr_cfg is frozen .rodata, so the verifier
 * sees the has_* flags as constants and drops the code for unset filters.
 *
 * Include after the definition of itr_cfg.
 */
#ifndef ITR_FILTER_BPF_H
#define ITR_FILTER_BPF_H

static __always_inline int itr_filter_needs_l3(void)
{
	return itr_cfg.has_addr || itr_cfg.proto != ITR_PROTO_ANY || itr_cfg.has_port ||
	       itr_cfg.has_icmp_id;
}

static __always_inline int itr_filter_needs_l4(void)
{
	return itr_cfg.has_port || itr_cfg.has_icmp_id;
}

/* pid: tgid of the current task (meaningless in softirq, by design). */
static __always_inline int itr_filter_pid(void)
{
	if (!itr_cfg.has_pid)
		return 1;
	return (bpf_get_current_pid_tgid() >> 32) == itr_cfg.pid;
}

/* A packet of IP version `version` can match the address filter at all. */
static __always_inline int itr_filter_family(int version)
{
	if (!itr_cfg.has_addr)
		return 1;
	return itr_cfg.addr_version == version;
}

static __always_inline int itr_addr_eq(const __u8 *a, int version)
{
	__u32 x[4], y[4];
	int n = version == 6 ? 4 : 1;

	__builtin_memcpy(x, a, 16);
	y[0] = *(const volatile __u32 *)&itr_cfg.addr[0];
	y[1] = *(const volatile __u32 *)&itr_cfg.addr[4];
	y[2] = *(const volatile __u32 *)&itr_cfg.addr[8];
	y[3] = *(const volatile __u32 *)&itr_cfg.addr[12];
	if (x[0] != y[0])
		return 0;
	if (n == 1)
		return 1;
	return x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Address (source or destination) and protocol. Needs stage 1. */
static __always_inline int itr_filter_l3(const struct itr_pkt *p, __u32 flags)
{
	if (flags & ITR_F_NO_L3)
		return 0;
	if (itr_cfg.proto != ITR_PROTO_ANY && p->l4proto != itr_cfg.proto)
		return 0;
	if (itr_cfg.has_addr) {
		if (p->ip_version != itr_cfg.addr_version)
			return 0;
		if (!itr_addr_eq(p->saddr, p->ip_version) &&
		    !itr_addr_eq(p->daddr, p->ip_version))
			return 0;
	}
	return 1;
}

/* Port (source or destination, TCP/UDP/UDPLITE/SCTP only) and ICMP echo
 * id. Needs stage 2. */
static __always_inline int itr_filter_l4(const struct itr_pkt *p, __u32 flags)
{
	if (itr_cfg.has_port) {
		if (!(flags & ITR_F_HAS_PORTS))
			return 0;
		if (p->sport_be != itr_cfg.port_be && p->dport_be != itr_cfg.port_be)
			return 0;
	}
	if (itr_cfg.has_icmp_id) {
		int echo;

		if (!(flags & ITR_F_HAS_ICMP))
			return 0;
		echo = (p->ip_version == 4 && (p->icmp_type == 8 || p->icmp_type == 0)) ||
		       (p->ip_version == 6 && (p->icmp_type == 128 || p->icmp_type == 129));
		if (!echo || p->icmp_id_be != itr_cfg.icmp_id_be)
			return 0;
	}
	return 1;
}

#endif /* ITR_FILTER_BPF_H */
