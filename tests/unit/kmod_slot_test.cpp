// The module's per-call slot decisions (kmod/itr_slot.h), played through the
// nestings the kernel produces: which nf_trace each table call restores at
// its return, and whether its nf_log_trace calls reach the kernel log.
#include <gtest/gtest.h>

#include "../../kmod/itr_slot.h"

namespace {

constexpr unsigned long kSkb = 0xffff888012345600UL;
constexpr unsigned long kCopy = 0xffff888012349a00UL;

// One marked table call: the slot the module computes at entry.
struct Call {
    unsigned long slot;
};

// A call entering for `skb` with its nf_trace; the module then sets 1.
Call enter(unsigned long skb, int& nf_trace, unsigned long outer, bool copy, int nft_marked = 0) {
    Call c{itr_slot_entry(skb, nf_trace, nft_marked, outer, copy)};
    nf_trace = 1;
    return c;
}

TEST(KmodSlot, OurPacketIsSilencedAndRestoredToZero) {
    int trace = 0;
    Call c = enter(kSkb, trace, 0, false);
    EXPECT_EQ(itr_slot_skb(c.slot), kSkb);
    EXPECT_TRUE(itr_slot_silenced(c.slot));
    EXPECT_EQ(itr_slot_restore(c.slot), 0);
}

TEST(KmodSlot, AdministratorsTraceLogsAndIsKept) {
    int trace = 1;
    Call c = enter(kSkb, trace, 0, false);
    EXPECT_FALSE(itr_slot_silenced(c.slot));
    EXPECT_EQ(itr_slot_restore(c.slot), 1);
}

TEST(KmodSlot, TraceRuleDuringOurCallIsKept) {
    int trace = 0;
    Call c = enter(kSkb, trace, 0, false);
    c.slot = itr_slot_traced(c.slot);
    EXPECT_FALSE(itr_slot_silenced(c.slot));
    EXPECT_EQ(itr_slot_restore(c.slot), 1);
}

TEST(KmodSlot, NftMarkIsSilencedButKept) {
    int trace = 1;
    Call c = enter(kSkb, trace, 0, false, 1);
    EXPECT_TRUE(itr_slot_silenced(c.slot));
    EXPECT_EQ(itr_slot_restore(c.slot), 1);
    c.slot = itr_slot_traced(c.slot);
    EXPECT_FALSE(itr_slot_silenced(c.slot));
    EXPECT_EQ(itr_slot_restore(c.slot), 1);
}

// Issue 13 item 5: the same skb re-enters a table inside one of our calls.
// The inner return must leave the mark the outer call set, or the rest of
// the outer walk goes untraced; the outer return still restores 0.
TEST(KmodSlot, SameSkbReenteringKeepsTheOuterMark) {
    int trace = 0;
    Call outer = enter(kSkb, trace, 0, false);
    Call inner = enter(kSkb, trace, outer.slot, false);
    EXPECT_TRUE(itr_slot_silenced(inner.slot)) << "the 1 the inner call reads is ours";
    trace = itr_slot_restore(inner.slot);
    EXPECT_EQ(trace, 1) << "inner return cleared the outer call's mark";
    trace = itr_slot_restore(outer.slot);
    EXPECT_EQ(trace, 0);
}

TEST(KmodSlot, SameSkbReenteringAdministratorsTrace) {
    int trace = 1;
    Call outer = enter(kSkb, trace, 0, false);
    Call inner = enter(kSkb, trace, outer.slot, false);
    EXPECT_FALSE(itr_slot_silenced(inner.slot));
    EXPECT_EQ(itr_slot_restore(inner.slot), 1);
    EXPECT_EQ(itr_slot_restore(outer.slot), 1);
}

// A TRACE rule hit in the inner call: the module marks every slot of the skb.
TEST(KmodSlot, TraceRuleInTheInnerCallSurvivesTheOuterReturn) {
    int trace = 0;
    Call outer = enter(kSkb, trace, 0, false);
    Call inner = enter(kSkb, trace, outer.slot, false);
    inner.slot = itr_slot_traced(inner.slot);
    outer.slot = itr_slot_traced(outer.slot);
    EXPECT_EQ(itr_slot_restore(inner.slot), 1);
    EXPECT_EQ(itr_slot_restore(outer.slot), 1);
    EXPECT_FALSE(itr_slot_silenced(outer.slot));
}

// Issue 13 item 4: a TEE copy made inside our call inherits our mark.
TEST(KmodSlot, TeeCopyOfOurPacketIsOurs) {
    int trace = 0;
    Call parent = enter(kSkb, trace, 0, false);
    int copy_trace = trace;  // pskb_copy copies nf_trace
    ASSERT_EQ(copy_trace, 1);
    const bool copy = itr_copy_of_ours(copy_trace, 1, 0, parent.slot);
    EXPECT_TRUE(copy);
    Call c = enter(kCopy, copy_trace, 0, copy);
    EXPECT_TRUE(itr_slot_silenced(c.slot)) << "the copy's TRACE lines would reach the kernel log";
    EXPECT_EQ(itr_slot_restore(c.slot), 0) << "the copy would leave with nf_trace=1";
    c.slot = itr_slot_traced(c.slot);  // an administrator's TRACE rule in OUTPUT
    EXPECT_EQ(itr_slot_restore(c.slot), 1);
}

TEST(KmodSlot, TeeCopyOfAnAdministratorsPacketIsTheirs) {
    int trace = 1;
    Call parent = enter(kSkb, trace, 0, false);
    EXPECT_FALSE(itr_copy_of_ours(1, 1, 0, parent.slot));
    parent.slot = itr_slot_traced(itr_slot_entry(kSkb, 0, 0, 0, false));  // TRACE hit in our call
    EXPECT_FALSE(itr_copy_of_ours(1, 1, 0, parent.slot));
    int nft = 1;
    Call nft_parent = enter(kSkb, nft, 0, false, 1);
    EXPECT_FALSE(itr_copy_of_ours(1, 1, 0, nft_parent.slot)) << "our nftables mark is the packet's own";
}

TEST(KmodSlot, OnlyInsideADuplicationAndWithoutASlot) {
    int trace = 0;
    Call parent = enter(kSkb, trace, 0, false);
    EXPECT_FALSE(itr_copy_of_ours(1, 0, 0, parent.slot)) << "not in nf_dup: a packet of its own";
    EXPECT_FALSE(itr_copy_of_ours(0, 1, 0, parent.slot)) << "no mark to inherit";
    EXPECT_FALSE(itr_copy_of_ours(1, 1, parent.slot, parent.slot)) << "the same skb, not a copy";
    EXPECT_FALSE(itr_copy_of_ours(1, 1, 0, 0)) << "no call of ours in flight";
}

}  // namespace
