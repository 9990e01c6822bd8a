// The ABI header as C++ sees it: sizes and key offsets must match what the
// BPF and module sides were built against.
#include <gtest/gtest.h>

#include <cstddef>

#include <iterator>
#include <string>
#include <vector>

#include "iptables_trace/counter_names.hpp"
#include "iptables_trace/event.h"

TEST(EventAbi, Sizes) {
    EXPECT_EQ(sizeof(itr_pkt), 88u);
    EXPECT_EQ(sizeof(itr_event), 272u);
    EXPECT_EQ(sizeof(itr_config), 56u);
    EXPECT_EQ(sizeof(itr_arg_layout), 4u);
    EXPECT_EQ(ITR_ABI_VERSION, 2);  // 2: the module marks only while its owner file is open
}

TEST(EventAbi, EventOffsets) {
    EXPECT_EQ(offsetof(itr_event, ts_ns), 0u);
    EXPECT_EQ(offsetof(itr_event, cost_ns), 8u);
    EXPECT_EQ(offsetof(itr_event, kind), 16u);
    EXPECT_EQ(offsetof(itr_event, flags), 20u);
    EXPECT_EQ(offsetof(itr_event, cpu), 24u);
    EXPECT_EQ(offsetof(itr_event, pid), 28u);
    EXPECT_EQ(offsetof(itr_event, hook), 32u);
    EXPECT_EQ(offsetof(itr_event, pf), 36u);
    EXPECT_EQ(offsetof(itr_event, verdict), 40u);
    EXPECT_EQ(offsetof(itr_event, rulenum), 44u);
    EXPECT_EQ(offsetof(itr_event, rule_kind), 48u);
    EXPECT_EQ(offsetof(itr_event, depth), 52u);
    EXPECT_EQ(offsetof(itr_event, table), 56u);
    EXPECT_EQ(offsetof(itr_event, chain), 88u);
    EXPECT_EQ(offsetof(itr_event, in_dev), 152u);
    EXPECT_EQ(offsetof(itr_event, out_dev), 168u);
    EXPECT_EQ(offsetof(itr_event, pkt), 184u);
}

TEST(EventAbi, PacketOffsets) {
    EXPECT_EQ(offsetof(itr_pkt, skb), 0u);
    EXPECT_EQ(offsetof(itr_pkt, netns), 8u);
    EXPECT_EQ(offsetof(itr_pkt, ifindex), 12u);
    EXPECT_EQ(offsetof(itr_pkt, ifname), 16u);
    EXPECT_EQ(offsetof(itr_pkt, dst_mac), 32u);
    EXPECT_EQ(offsetof(itr_pkt, ip_version), 38u);
    EXPECT_EQ(offsetof(itr_pkt, l4proto), 39u);
    EXPECT_EQ(offsetof(itr_pkt, ip_len), 40u);
    EXPECT_EQ(offsetof(itr_pkt, sport_be), 42u);
    EXPECT_EQ(offsetof(itr_pkt, dport_be), 44u);
    EXPECT_EQ(offsetof(itr_pkt, tcp_flags), 46u);
    EXPECT_EQ(offsetof(itr_pkt, icmp_type), 47u);
    EXPECT_EQ(offsetof(itr_pkt, icmp_code), 48u);
    EXPECT_EQ(offsetof(itr_pkt, icmp_id_be), 50u);
    EXPECT_EQ(offsetof(itr_pkt, icmp_seq_be), 52u);
    EXPECT_EQ(offsetof(itr_pkt, saddr), 54u);
    EXPECT_EQ(offsetof(itr_pkt, daddr), 70u);
}

TEST(EventAbi, ConfigOffsets) {
    EXPECT_EQ(offsetof(itr_config, ipt), 0u);
    EXPECT_EQ(offsetof(itr_config, ip6t), 4u);
    EXPECT_EQ(offsetof(itr_config, abi_version), 8u);
    EXPECT_EQ(offsetof(itr_config, has_addr), 12u);
    EXPECT_EQ(offsetof(itr_config, addr_version), 13u);
    EXPECT_EQ(offsetof(itr_config, proto), 14u);
    EXPECT_EQ(offsetof(itr_config, has_port), 15u);
    EXPECT_EQ(offsetof(itr_config, has_icmp_id), 16u);
    EXPECT_EQ(offsetof(itr_config, has_pid), 17u);
    EXPECT_EQ(offsetof(itr_config, has_netns), 18u);
    EXPECT_EQ(offsetof(itr_config, port_be), 20u);
    EXPECT_EQ(offsetof(itr_config, icmp_id_be), 22u);
    EXPECT_EQ(offsetof(itr_config, pid), 24u);
    EXPECT_EQ(offsetof(itr_config, netns), 28u);
    EXPECT_EQ(offsetof(itr_config, addr), 32u);
    EXPECT_EQ(offsetof(itr_config, marked_only), 48u);
}

// The exit summary's counter names, as scripts read them; every entry of
// counters.h has one (a missing one would have streamed a null char*).
TEST(EventAbi, CounterNamesFollowTheirOneList) {
    const std::vector<std::string> bpf(std::begin(itr::kBpfStatNames), std::end(itr::kBpfStatNames));
    EXPECT_EQ(bpf, (std::vector<std::string>{"seen", "matched", "stack_full", "return_unmatched", "output_err",
                                             "rule_events"}));
    EXPECT_STREQ(itr::kBpfStatNames[ITR_STAT_OUTPUT_ERR], "output_err");
    const std::vector<std::string> module(std::begin(itr::kModuleCounterNames), std::end(itr::kModuleCounterNames));
    EXPECT_EQ(module, (std::vector<std::string>{"marked", "skipped", "silenced", "admin_passed", "admin_traced",
                                                "slots_full", "copies", "missed"}));
    EXPECT_STREQ(ITR_NAME(ITR_PARAM_NFT_DO_CHAIN_ADDR), "nft_do_chain_addr");
    EXPECT_STREQ(ITR_NAME(ITR_PARAM_PIN_DIR), "pin_dir");
}
