// The decoded, backend-neutral form of one trace event. Both backends (the
// module's perf buffer and the netlink one) produce this; every sink reads it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace itr {

// Rule: a legacy xtables rule (TRACE); Table: an xtables table call's
// verdict; Nft: an nf_tables base chain's verdict; NftRule: an nf_tables
// trace event (a rule that matched, the end of a chain, a base chain's
// policy), one per NFT_MSG_TRACE message.
enum class EventKind { Rule, Table, Nft, NftRule };
enum class RuleKind { Rule, Return, Policy, Unknown };

struct Packet {
    uint64_t skb = 0;                       // 0 when the backend cannot know it
    std::optional<uint32_t> netns;          // netns inode
    std::optional<uint32_t> pid;            // current tgid; unrelated to the packet in softirq
    std::optional<uint32_t> cpu;
    std::string ifname;                     // skb->dev, "" if none
    std::optional<std::array<uint8_t, 6>> dst_mac;
    uint8_t ip_version = 0;                 // 4, 6, 0 = unknown
    uint8_t l4proto = 0;                    // IPPROTO_*
    uint16_t ip_len = 0;
    std::array<uint8_t, 16> saddr{};        // IPv4 in the first four bytes
    std::array<uint8_t, 16> daddr{};
    std::optional<uint16_t> sport;          // host order
    std::optional<uint16_t> dport;
    uint8_t tcp_flags = 0;
    bool has_icmp = false;
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;
    uint16_t icmp_id = 0;                   // host order, echo only
    uint16_t icmp_seq = 0;
};

struct TraceEvent {
    EventKind kind = EventKind::Rule;
    uint64_t mono_ns = 0;                   // CLOCK_MONOTONIC of the event
    Packet pkt;
    uint32_t pf = 0;                        // NFPROTO_* of the table / chain
    uint32_t hook = 0;                      // NF_INET_* number
    bool hook_unknown = false;              // NftRule: the base chain's hook could not be told
    std::string table;
    std::string chain;                      // Rule: xtables chain; Nft: base chain; NftRule: the rule's chain
    std::string in_dev;                     // Rule: state->in / out names; NftRule: iif / oif
    std::string out_dev;
    uint32_t rulenum = 0;                   // Rule; NftRule: 1-based position, 0 = unknown (enrichment)
    RuleKind rule_kind = RuleKind::Unknown; // Rule, NftRule (Rule / Return / Policy)
    std::optional<uint32_t> verdict;        // Table, Nft: raw, queue number in the upper 16 bits
    std::optional<uint64_t> cost_ns;        // Table, Nft
    uint32_t depth = 0;                     // nesting of table calls on that CPU
    bool truncated = false;                 // a name did not fit the event
    bool admin_trace = false;               // the packet carried nf_trace before we saw it
    // NftRule only.
    std::optional<uint64_t> handle;         // the rule's handle (rules, not chain ends or policies)
    int32_t nft_verdict = 0;                // nf_tables verdict code as sent (NF_* >= 0, NFT_* < 0);
                                            // a policy's NF_ACCEPT / NF_DROP; NFT_RETURN for a chain's end
    bool nft_verdict_known = false;         // false: the message carried none
    std::string verdict_target;             // jump / goto: the target chain
    std::string base_chain;                 // the base chain of this call, "" when its start was not seen
    // Filled by enrichment (rule lookup), not by the backends.
    std::optional<std::string> rule_text;   // iptables-save form, or "policy DROP" / "return"
    bool rule_text_stale = false;           // the ruleset changed and could not be re-read
};

}  // namespace itr
