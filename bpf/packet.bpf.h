/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet snapshot (struct itr_pkt) from an skb, in stages, so the filter can
 * decide after reading only what it needs:
 *   stage 1: skb geometry + IPv4/IPv6 header (addresses, l4proto, ip_len)
 *   stage 2: the L4 header (ports, TCP flags, ICMP type/code/id/seq)
 *   rest:    skb address, device, destination MAC
 * Every read is a bpf_probe_read_kernel(): kprobe programs cannot
 * dereference kernel pointers directly.
 *
 * Headers are found from skb->head + skb->network_header; transport_header
 * is not used (at PREROUTING it is not set yet): the L4 offset comes from
 * the IPv4 ihl or from walking the IPv6 extension headers.
 */
#ifndef ITR_PACKET_BPF_H
#define ITR_PACKET_BPF_H

#define ITR_ETH_P_IP 0x0800
#define ITR_ETH_P_IPV6 0x86DD

#define ITR_IPPROTO_HOPOPTS 0
#define ITR_IPPROTO_ICMP 1
#define ITR_IPPROTO_TCP 6
#define ITR_IPPROTO_UDP 17
#define ITR_IPPROTO_ROUTING 43
#define ITR_IPPROTO_FRAGMENT 44
#define ITR_IPPROTO_AH 51
#define ITR_IPPROTO_ICMPV6 58
#define ITR_IPPROTO_DSTOPTS 60
#define ITR_IPPROTO_SCTP 132
#define ITR_IPPROTO_UDPLITE 136

#define ITR_IPV6_MAX_EXT 4
#define ITR_HDR_UNSET 0xffff

/* Raw wire layouts: our own, so no CO-RE relocation touches packet data. */
struct itr_ip4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct itr_ip6_hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* skb geometry, read in as few probes as the layout allows. */
struct itr_skb_geo {
	__u64 head;
	__u64 data;
	__u32 len;
	__u32 data_len;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	__u16 mac_header;
};

/* State carried between the stages. */
struct itr_parse {
	struct itr_skb_geo g;
	__u32 flags;   /* ITR_F_* found so far */
	__u32 l4_off;  /* L4 header offset from skb->head */
	__u8 stage;    /* 0 nothing, 1 L3 done, 2 L4 done */
	__u8 l4_ok;    /* l4_off is valid: a known L4, first fragment */
	__u8 version;
	__u8 _pad;
};

/*
 * head/data, len/data_len and protocol/transport_header/network_header/
 * mac_header are neighbours in struct sk_buff on every kernel we support;
 * CO-RE confirms it at load time (these compare relocated constants, the
 * verifier keeps one side) and we read each group with one probe.
 */
static __always_inline void itr_read_geo(const struct sk_buff *skb, struct itr_skb_geo *g)
{
	const void *s = skb;

	if (bpf_core_field_offset(skb->data) == bpf_core_field_offset(skb->head) + 8) {
		bpf_probe_read_kernel(&g->head, 16, s + bpf_core_field_offset(skb->head));
	} else {
		BPF_CORE_READ_INTO(&g->head, skb, head);
		BPF_CORE_READ_INTO(&g->data, skb, data);
	}
	if (bpf_core_field_offset(skb->transport_header) ==
		    bpf_core_field_offset(skb->protocol) + 2 &&
	    bpf_core_field_offset(skb->network_header) ==
		    bpf_core_field_offset(skb->protocol) + 4 &&
	    bpf_core_field_offset(skb->mac_header) ==
		    bpf_core_field_offset(skb->protocol) + 6) {
		bpf_probe_read_kernel(&g->protocol, 8, s + bpf_core_field_offset(skb->protocol));
	} else {
		BPF_CORE_READ_INTO(&g->protocol, skb, protocol);
		BPF_CORE_READ_INTO(&g->network_header, skb, network_header);
		BPF_CORE_READ_INTO(&g->mac_header, skb, mac_header);
	}
}

/* End of the linear data, as an offset from head. Only the L4 stage needs
 * it, so len/data_len are read here rather than with the rest. */
static __always_inline __u64 itr_linear_end(const struct sk_buff *skb, struct itr_skb_geo *g)
{
	const void *s = skb;

	if (bpf_core_field_offset(skb->data_len) == bpf_core_field_offset(skb->len) + 4) {
		bpf_probe_read_kernel(&g->len, 8, s + bpf_core_field_offset(skb->len));
	} else {
		BPF_CORE_READ_INTO(&g->len, skb, len);
		BPF_CORE_READ_INTO(&g->data_len, skb, data_len);
	}
	return (g->data - g->head) + (__u64)(g->len - g->data_len);
}

static __always_inline void itr_parse_ip4(struct itr_pkt *p, struct itr_parse *ps)
{
	struct itr_ip4_hdr ip;
	__u32 nh = ps->g.network_header;
	__u32 ihl;

	if (bpf_probe_read_kernel(&ip, sizeof(ip), (const void *)(ps->g.head + nh)) ||
	    (ip.ver_ihl >> 4) != 4) {
		ps->flags |= ITR_F_NO_L3;
		return;
	}
	ihl = (ip.ver_ihl & 0x0f) * 4;
	p->ip_version = 4;
	p->l4proto = ip.protocol;
	p->ip_len = bpf_ntohs(ip.tot_len);
	__builtin_memcpy(p->saddr, &ip.saddr, 4);
	__builtin_memcpy(p->daddr, &ip.daddr, 4);
	ps->l4_off = nh + ihl;
	/* A non-first fragment carries no L4 header. */
	ps->l4_ok = ihl >= 20 && !(ip.frag_off & bpf_htons(0x1fff));
}

/* The extension headers we step over, as a bit set: all are below 64. */
#define ITR_IP6_EXT_MASK                                                     \
	((1ULL << ITR_IPPROTO_HOPOPTS) | (1ULL << ITR_IPPROTO_ROUTING) |     \
	 (1ULL << ITR_IPPROTO_DSTOPTS) | (1ULL << ITR_IPPROTO_FRAGMENT) |    \
	 (1ULL << ITR_IPPROTO_AH))

/* One test instead of five: every comparison is a branch the verifier
 * walks both ways, in every program that parses a packet. */
static __always_inline int itr_ip6_is_ext(__u8 nexthdr)
{
	return nexthdr < 64 && ((ITR_IP6_EXT_MASK >> nexthdr) & 1);
}

/* 1 if a == b, else 0, without a branch. */
static __always_inline __u32 itr_eq01(__u32 a, __u32 b)
{
	return (__u32)(((__u64)(a ^ b) - 1) >> 63);
}

static __always_inline void itr_parse_ip6(struct itr_pkt *p, struct itr_parse *ps)
{
	struct itr_ip6_hdr ip;
	__u32 nh = ps->g.network_header;
	__u32 off;
	__u8 next;
	int first = 1;

	if (bpf_probe_read_kernel(&ip, sizeof(ip), (const void *)(ps->g.head + nh)) ||
	    (bpf_ntohl(ip.ver_tc_flow) >> 28) != 6) {
		ps->flags |= ITR_F_NO_L3;
		return;
	}
	p->ip_version = 6;
	p->ip_len = bpf_ntohs(ip.payload_len) + 40;
	__builtin_memcpy(p->saddr, ip.saddr, 16);
	__builtin_memcpy(p->daddr, ip.daddr, 16);

	off = nh + 40;
	next = ip.nexthdr;
#pragma unroll
	for (int i = 0; i < ITR_IPV6_MAX_EXT; i++) {
		__u8 eh[4];

		if (!itr_ip6_is_ext(next))
			break;
		__u32 frag, ah, other, frag_off;

		if (bpf_probe_read_kernel(eh, sizeof(eh), (const void *)(ps->g.head + off)))
			break;
		/* Header length by arithmetic, not by branches (see
		 * itr_ip6_is_ext): a fragment header is 8 bytes and carries
		 * the offset in the upper 13 bits of bytes 2..3; AH counts
		 * 4-byte units minus 2; the others 8-byte units minus 1. */
		frag = itr_eq01(next, ITR_IPPROTO_FRAGMENT);
		ah = itr_eq01(next, ITR_IPPROTO_AH);
		other = 1 - frag - ah;
		frag_off = (((__u32)eh[2] << 8) | eh[3]) & 0xfff8;
		first &= 1 - (frag & (1 - itr_eq01(frag_off, 0)));
		off += frag * 8 + ah * (((__u32)eh[1] + 2) * 4) + other * (((__u32)eh[1] + 1) * 8);
		next = eh[0];
	}
	p->l4proto = next;
	ps->l4_off = off;
	ps->l4_ok = first && !itr_ip6_is_ext(next);
}

/* Stage 1. version: 4, 6, or 0 to take it from skb->protocol. */
static __always_inline void itr_parse_l3(const struct sk_buff *skb, int version,
					 struct itr_pkt *p, struct itr_parse *ps)
{
	itr_read_geo(skb, &ps->g);
	if (version == 0) {
		if (ps->g.protocol == bpf_htons(ITR_ETH_P_IP))
			version = 4;
		else if (ps->g.protocol == bpf_htons(ITR_ETH_P_IPV6))
			version = 6;
	}
	ps->version = version;
	if (ps->g.network_header == ITR_HDR_UNSET || !ps->g.head)
		version = 0;
	if (version == 4)
		itr_parse_ip4(p, ps);
	else if (version == 6)
		itr_parse_ip6(p, ps);
	else
		ps->flags |= ITR_F_NO_L3;
}

/* Stage 2: the L4 header, only when it lies in the linear data. */
static __always_inline void itr_parse_l4(const struct sk_buff *skb, struct itr_pkt *p,
					 struct itr_parse *ps)
{
	__u8 h[16];
	__u32 need;
	__u8 proto = p->l4proto;
	int icmp;

	if (!ps->l4_ok)
		return;
	icmp = (proto == ITR_IPPROTO_ICMP && p->ip_version == 4) ||
	       (proto == ITR_IPPROTO_ICMPV6 && p->ip_version == 6);
	if (proto == ITR_IPPROTO_TCP)
		need = 14;
	else if (proto == ITR_IPPROTO_UDP || proto == ITR_IPPROTO_UDPLITE ||
		 proto == ITR_IPPROTO_SCTP)
		need = 4;
	else if (icmp)
		need = 8;
	else
		return;
	/* Headers in paged fragments are not reachable from here: no L4 then. */
	if ((__u64)ps->l4_off + need > itr_linear_end(skb, &ps->g))
		return;
	/* 16 bytes whatever the need: the head buffer is followed by
	 * skb_shared_info, so this never leaves the allocation; only the
	 * checked bytes are used. */
	if (bpf_probe_read_kernel(h, sizeof(h), (const void *)(ps->g.head + ps->l4_off)))
		return;
	if (icmp) {
		p->icmp_type = h[0];
		p->icmp_code = h[1];
		ps->flags |= ITR_F_HAS_ICMP;
		if ((p->ip_version == 4 && (h[0] == 8 || h[0] == 0)) ||
		    (p->ip_version == 6 && (h[0] == 128 || h[0] == 129))) {
			__builtin_memcpy(&p->icmp_id_be, &h[4], 2);
			__builtin_memcpy(&p->icmp_seq_be, &h[6], 2);
		}
		return;
	}
	__builtin_memcpy(&p->sport_be, &h[0], 2);
	__builtin_memcpy(&p->dport_be, &h[2], 2);
	ps->flags |= ITR_F_HAS_PORTS;
	if (proto == ITR_IPPROTO_TCP)
		p->tcp_flags = h[13];
}

/* Bring the snapshot up to `stage` (1 or 2). Calls are inlined with a
 * constant stage, so finished stages cost nothing. */
static __always_inline void itr_parse_upto(const struct sk_buff *skb, int version,
					   struct itr_pkt *p, struct itr_parse *ps, int stage)
{
	if (ps->stage < 1 && stage >= 1) {
		itr_parse_l3(skb, version, p, ps);
		ps->stage = 1;
	}
	if (ps->stage < 2 && stage >= 2) {
		itr_parse_l4(skb, p, ps);
		ps->stage = 2;
	}
}

/* The rest of the snapshot: identity, device, destination MAC. Needs
 * stage 1 (for the geometry). */
static __always_inline void itr_parse_rest(const struct sk_buff *skb, struct itr_pkt *p,
					   struct itr_parse *ps)
{
	struct net_device *dev;

	p->skb = (__u64)skb;
	dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		p->ifindex = BPF_CORE_READ(dev, ifindex);
		BPF_CORE_READ_INTO(&p->ifname, dev, name);
	}
	if (ps->g.mac_header != ITR_HDR_UNSET && ps->g.head &&
	    !bpf_probe_read_kernel(p->dst_mac, 6, (const void *)(ps->g.head + ps->g.mac_header)))
		ps->flags |= ITR_F_HAS_MAC;
}

/* The whole snapshot at once (rule events, unmatched returns). */
static __always_inline __u32 itr_snapshot(const struct sk_buff *skb, int version,
					  struct itr_pkt *p)
{
	struct itr_parse ps = {};

	__builtin_memset(p, 0, sizeof(*p));
	if (!skb)
		return ITR_F_NO_L3;
	itr_parse_upto(skb, version, p, &ps, 2);
	itr_parse_rest(skb, p, &ps);
	return ps.flags;
}

#endif /* ITR_PACKET_BPF_H */
