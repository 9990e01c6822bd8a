/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What a marked table call keeps in its slot, and the decisions taken from
 * it: which nf_trace value its return restores, whether its nf_log_trace
 * calls are silenced. Pure functions on one word, shared by the module and
 * the host unit test (tests/unit/kmod_slot_test.cpp). Plain C, no includes.
 *
 * A slot is the skb address with flags in its low bits (an sk_buff is at
 * least 8-byte aligned, also the second one of an fclone pair):
 *   OWN_TRACE    the packet's own nf_trace is 1: an administrator's TRACE
 *                (or, with NFT_MARK, our nftables table's mark); its
 *                nf_log_trace calls log as they would without us;
 *   NFT_MARK     that 1 is our nftables table's mark: kept, but silenced;
 *   ENTRY_TRACE  the value to restore at return, unless a TRACE rule set
 *                OWN_TRACE during the call: the nf_trace the packet carried
 *                at this entry, our own mark included when the same skb
 *                re-enters a table inside one of our calls (so the rest of
 *                the outer walk stays traced); 0 for a copy that inherited
 *                our mark (its own value is the original's, 0).
 */
#ifndef ITR_KMOD_SLOT_H
#define ITR_KMOD_SLOT_H

#define ITR_SLOT_OWN_TRACE 1UL
#define ITR_SLOT_NFT_MARK 2UL
#define ITR_SLOT_ENTRY_TRACE 4UL
/* Who the packet's nf_trace belongs to. */
#define ITR_SLOT_FLAGS (ITR_SLOT_OWN_TRACE | ITR_SLOT_NFT_MARK)
/* Every bit that is not the address. */
#define ITR_SLOT_BITS (ITR_SLOT_FLAGS | ITR_SLOT_ENTRY_TRACE)

static inline unsigned long itr_slot_skb(unsigned long slot)
{
	return slot & ~ITR_SLOT_BITS;
}

/*
 * A packet entering a table with nf_trace=1 while a packet duplication
 * (xt_TEE: nf_dup_ipv4/6) runs on this CPU, and with no slot of its own,
 * is the copy: nf_dup walks OUTPUT and POSTROUTING with it synchronously,
 * nested in the table call that ran TEE on the original, and the copy
 * inherited the original's nf_trace. `parent` is the slot of the newest
 * marked call in flight on this CPU (0 if none): when its nf_trace is ours
 * alone, so is the copy's.
 */
static inline int itr_copy_of_ours(int nf_trace, int in_dup, unsigned long own_slot,
				   unsigned long parent)
{
	return nf_trace && in_dup && !own_slot && parent &&
	       !(parent & ITR_SLOT_FLAGS);
}

/*
 * The slot of a call entering with nf_trace, once the entry program took
 * the packet. `outer`: the slot of one of our calls in flight for the same
 * skb (0 if none); `copy_of_ours` from itr_copy_of_ours().
 */
static inline unsigned long itr_slot_entry(unsigned long skb, int nf_trace, int nft_marked,
					   unsigned long outer, int copy_of_ours)
{
	unsigned long v = skb;

	if (!nf_trace || copy_of_ours)
		return v;
	v |= ITR_SLOT_ENTRY_TRACE | ITR_SLOT_OWN_TRACE;
	/* Taken by the filter, and our nftables table marks exactly what the
	 * filter takes: a mark it came with is ours. */
	if (nft_marked)
		v |= ITR_SLOT_NFT_MARK;
	/* The same skb inside one of our calls whose value was 0: the 1 it
	 * reads is our mark. Restore it (ENTRY_TRACE), but it is not the
	 * packet's own. */
	if (outer && !(outer & ITR_SLOT_OWN_TRACE))
		v &= ~ITR_SLOT_FLAGS;
	return v;
}

/* An administrator's TRACE rule hit during the call: the 1 is now theirs. */
static inline unsigned long itr_slot_traced(unsigned long slot)
{
	return (slot | ITR_SLOT_OWN_TRACE) & ~ITR_SLOT_NFT_MARK;
}

/* nf_trace at the call's return. */
static inline int itr_slot_restore(unsigned long slot)
{
	return (slot & (ITR_SLOT_OWN_TRACE | ITR_SLOT_ENTRY_TRACE)) != 0;
}

/* Whether an nf_log_trace call for this packet is kept out of the log. */
static inline int itr_slot_silenced(unsigned long slot)
{
	return (slot & ITR_SLOT_FLAGS) != ITR_SLOT_OWN_TRACE;
}

#endif /* ITR_KMOD_SLOT_H */
