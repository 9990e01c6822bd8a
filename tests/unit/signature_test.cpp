#include <gtest/gtest.h>

#include "iptables_trace/signature.hpp"

namespace itr {
namespace {

TEST(Signature, Since516PrivFirst)
{
    std::vector<FuncParam> p = {{"priv", true, "void"}, {"skb", true, "sk_buff"}, {"state", true, "nf_hook_state"}};
    auto l = layout_from_params(p);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->skb, 1);
    EXPECT_EQ(l->state, 2);
    EXPECT_EQ(l->table, 0);
    EXPECT_EQ(l->valid, 1);
}

TEST(Signature, Before516TableLast)
{
    std::vector<FuncParam> p = {{"skb", true, "sk_buff"}, {"state", true, "nf_hook_state"}, {"table", true, "xt_table"}};
    auto l = layout_from_params(p);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->skb, 0);
    EXPECT_EQ(l->state, 1);
    EXPECT_EQ(l->table, 2);
}

TEST(Signature, UnknownShapeIsRejected)
{
    EXPECT_FALSE(layout_from_params({{"skb", true, "sk_buff"}}));
    EXPECT_FALSE(layout_from_params({{"a", false, ""}, {"b", false, ""}, {"c", false, ""}}));
}

TEST(Signature, FromRelease)
{
    EXPECT_EQ(layout_from_release("5.10.0-32-amd64").skb, 0);
    EXPECT_EQ(layout_from_release("5.15.0-1-generic").skb, 0);
    EXPECT_EQ(layout_from_release("5.16.0").skb, 1);
    EXPECT_EQ(layout_from_release("6.1.0-56-amd64").skb, 1);
    EXPECT_EQ(layout_from_release("6.12.95+bpo-amd64").table, 0);
}

TEST(Signature, FromModinfo)
{
    auto n = layout_from_modinfo("120");  // since 5.16: (priv, skb, state)
    ASSERT_TRUE(n);
    EXPECT_EQ(n->skb, 1);
    EXPECT_EQ(n->state, 2);
    EXPECT_EQ(n->table, 0);
    EXPECT_EQ(n->valid, 1);
    auto o = layout_from_modinfo("012");  // before: (skb, state, table)
    ASSERT_TRUE(o);
    EXPECT_EQ(o->skb, 0);
    EXPECT_EQ(o->table, 2);
    // The module could not tell, or the value is not ours: fall back to BTF.
    EXPECT_FALSE(layout_from_modinfo("???"));
    EXPECT_FALSE(layout_from_modinfo("12"));
    EXPECT_FALSE(layout_from_modinfo("1200"));
    EXPECT_FALSE(layout_from_modinfo("112"));
    EXPECT_FALSE(layout_from_modinfo("16 "));
    EXPECT_FALSE(layout_from_modinfo(""));
}

}  // namespace
}  // namespace itr
