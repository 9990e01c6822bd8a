// nf_tables trace events: NFT_MSG_TRACE messages of the NFNLGRP_NFTRACE
// group, decoded by our own code (libnftnl's trace parser calls exit() on a
// message it does not like), and the correlator that groups the messages of
// one packet's base-chain call. Pure: bytes in, typed model out.
//
// Raw message -> TraceMessage (decode_trace_message) -> TraceRecord
// (TraceCorrelator::add) -> rule number and text (nft_rules.hpp) -> line
// fields (nft_fields.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iptables_trace/result.hpp"

namespace itr::nft {

// NFTA_TRACE_TYPE, the kernel's numbers (enum nft_trace_types).
enum class TraceType : uint32_t { Policy = 1, Return = 2, Rule = 3 };

// What a message means, the same on every kernel:
//   Rule   a rule matched (verdict continue, accept, drop, jump, goto, an
//          explicit return, ...); it has a handle, except on a malformed or
//          unknown form (then rulenum stays unknown);
//   Return the implicit end of a chain (no rule): back to the caller, or to
//          the base chain's policy, which follows as its own message;
//   Policy the base chain's policy decided.
// Up to 6.6 the end of a chain is TYPE=RETURN without a handle and an
// explicit `return` is TYPE=RETURN with its handle; since 6.7 both arrive as
// TYPE=RULE, the end with verdict continue and no handle (both forms in real
// bytes: tests/unit/data/nft-trace/{5.10,6.1} and {6.12,6.18}). Both forms
// map to the same kinds.
enum class HitKind { Rule, Return, Policy };

// Verdict codes: the netfilter ones (NF_*) and the nf_tables ones (NFT_*)
// share one number space. NF_QUEUE carries the queue number and NF_DROP may
// carry an errno in the bits above NF_VERDICT_MASK.
namespace verdict_code {
inline constexpr int32_t Drop = 0, Accept = 1, Stolen = 2, Queue = 3, Repeat = 4, Stop = 5;
inline constexpr int32_t Continue = -1, Break = -2, Jump = -3, Goto = -4, Return = -5;
}  // namespace verdict_code

struct Verdict {
    int32_t code = 0;                  // NFTA_VERDICT_CODE as sent
    std::optional<std::string> chain;  // NFTA_VERDICT_CHAIN: jump / goto target
    // code without the queue number / errno bits for the netfilter verdicts
    int32_t base() const { return code >= 0 ? (code & 0xff) : code; }
    // true when the packet's walk through this table ends here
    bool terminal() const;
};

// "ACCEPT", "DROP", "QUEUE", "STOLEN", "REPEAT", "STOP", "CONTINUE", "BREAK",
// "JUMP", "GOTO", "RETURN"; "UNKNOWN(<code>)" otherwise. No target.
std::string verdict_name(int32_t code);

// What the kernel knows of the packet; only the first message of each
// nft_do_chain() call carries it.
struct PacketInfo {
    std::optional<uint32_t> iif;      // ifindex in the packet's netns
    std::optional<uint16_t> iiftype;  // ARPHRD_*
    std::optional<uint32_t> oif;
    std::optional<uint16_t> oiftype;
    std::vector<uint8_t> ll;          // link-layer header (kernel sends at most 20 bytes)
    std::vector<uint8_t> network;     // network header (at most 40)
    std::vector<uint8_t> transport;   // transport header (at most 20)
    bool empty() const {
        return !iif && !iiftype && !oif && !oiftype && ll.empty() && network.empty() && transport.empty();
    }
};

// Conntrack attributes, sent since 6.16 when the packet has a conntrack entry.
struct ConntrackInfo {
    std::optional<uint32_t> id;
    std::optional<uint8_t> direction;  // IP_CT_DIR_ORIGINAL 0 / REPLY 1
    std::optional<uint32_t> status;    // IPS_* bits
    std::optional<uint32_t> state;     // NF_CT_STATE_* bits (established, ...)
    bool empty() const { return !id && !direction && !status && !state; }
};

struct TraceMessage {
    uint8_t family = 0;                // nfgen_family: the table's family (NFPROTO_INET 1, IPV4 2, IPV6 10, ...)
    std::string table;
    std::string chain;
    std::optional<uint64_t> handle;    // NFTA_TRACE_RULE_HANDLE
    TraceType type = TraceType::Rule;  // as sent
    HitKind kind = HitKind::Rule;      // normalised, see HitKind
    std::optional<Verdict> verdict;    // Rule / Return types
    uint32_t id = 0;                   // NFTA_TRACE_ID, read big-endian (as `nft monitor trace` prints it)
    std::optional<uint32_t> nfproto;   // protocol processed (2, 10; the inet family says which)
    std::optional<uint32_t> policy;    // Policy type: NF_ACCEPT / NF_DROP
    std::optional<uint32_t> mark;      // skb->mark, only when non-zero
    PacketInfo packet;
    ConntrackInfo ct;
};

// Decodes one netlink message (nlmsghdr + nfgenmsg + attributes) as read from
// an NFNLGRP_NFTRACE socket. Every length is checked against the bytes
// given; a malformed, truncated or unknown message is an Error, never a crash
// or an exit. Attributes newer than this code knows are skipped. Required:
// TYPE, ID, TABLE, CHAIN, and a VERDICT for TYPE=RULE.
Result<TraceMessage> decode_trace_message(std::span<const uint8_t> bytes);

// One message with what its chain call adds to it.
struct TraceRecord {
    TraceMessage msg;
    // The packet as the first message of this chain call described it; null
    // when that message was not seen (lost, or the listener started in the
    // middle of the call). The same object for every record of the call.
    std::shared_ptr<const PacketInfo> packet;
    bool call_start = false;        // this message began a chain call
    bool call_end = false;          // the call ended here: policy or a terminal verdict
    uint32_t index_in_call = 0;     // 0 for the first message of the call
    std::string base_chain;         // chain of the call's first message; "" when not seen
    // An implicit end of the base chain itself: the policy message follows,
    // so a formatter may leave this one out.
    bool base_chain_end = false;

    // Filled by the rule-text lookup (nft_rules.hpp), not by the correlator.
    std::optional<uint32_t> rulenum;  // Rule: 1-based position in its chain
    std::optional<std::string> rule_text;
    bool rule_text_stale = false;
};

struct CorrelatorStats {
    uint64_t messages = 0;
    uint64_t calls = 0;
    uint64_t calls_without_packet = 0;  // call started by a message without packet info
    uint64_t evicted = 0;               // open calls dropped to stay within max_open
};

// Groups the messages of one packet's base-chain call. The kernel gives each
// traced packet an id (NFTA_TRACE_ID; its derivation differs across kernels:
// jhash on 5.10, a boot-keyed siphash since 5.19) and sends a chain call's
// messages in order; messages of other packets may come in between. A call
// starts with the message that carries the packet info, or with any message
// of an id whose previous call ended or whose table differs; it ends at the
// policy or a terminal verdict. The id is used as the kernel sent it, never
// recomputed.
class TraceCorrelator {
public:
    explicit TraceCorrelator(size_t max_open = 4096);
    TraceRecord add(TraceMessage msg);
    size_t open_calls() const { return open_.size(); }
    const CorrelatorStats& stats() const { return stats_; }

private:
    struct Call {
        uint32_t id = 0;
        uint8_t family = 0;
        std::string table;
        std::string base_chain;
        std::shared_ptr<const PacketInfo> packet;
        uint32_t next_index = 0;
    };
    using Lru = std::list<Call>;  // most recently used first

    size_t max_open_;
    Lru lru_;
    std::unordered_map<uint32_t, Lru::iterator> open_;
    CorrelatorStats stats_;
};

}  // namespace itr::nft
