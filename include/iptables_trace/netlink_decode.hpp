// Pure pieces of the netlink backend: TRACE prefix parsing, nfnetlink_log
// message decoding into TraceEvent, sequence-gap accounting, and the
// translation of the user's filter into nftables matches. No kernel access;
// unit-tested from synthesized messages.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iptables_trace/model.hpp"
#include "iptables_trace/nft_trace.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/result.hpp"

struct nlmsghdr;

namespace itr::netlink {

// "TRACE: filter:INPUT:rule:3 " (the text ip_tables hands to nf_log_trace).
struct TracePrefix {
    std::string table;
    std::string chain;
    RuleKind kind = RuleKind::Unknown;
    uint32_t rulenum = 0;
};
std::optional<TracePrefix> parse_trace_prefix(std::string_view prefix);

// An IPv6 extension header this code walks (hop-by-hop, routing,
// destination options, fragment, AH).
bool is_ipv6_ext(uint8_t next_header);

// Fills the packet fields (ip_version, l4proto, ip_len, addresses, ports,
// TCP flags, ICMP) from a buffer that starts at the network header.
// family: NFPROTO_IPV4 / NFPROTO_IPV6, or 0 to take it from the version nibble.
void decode_l3(const uint8_t* data, size_t len, uint8_t family, Packet& pkt);

// What one NFULNL_MSG_PACKET carried, before device names are resolved.
struct NflogRecord {
    uint8_t family = 0;                      // nfgen_family (NFPROTO_*)
    uint16_t hw_protocol = 0;                // host order
    uint8_t hook = 0;
    std::optional<uint32_t> seq;             // NFULA_SEQ (instance-local)
    std::optional<uint32_t> mark;
    uint32_t indev = 0;                      // ifindex, 0 = none
    uint32_t outdev = 0;
    std::optional<int64_t> tstamp_real_ns;   // NFULA_TIMESTAMP, CLOCK_REALTIME
    std::optional<std::array<uint8_t, 6>> hw_dst;  // NFULA_HWHEADER, Ethernet only
    std::string prefix;
    const uint8_t* payload = nullptr;        // points into the message
    size_t payload_len = 0;
};
// Returns an Error for a malformed message; a message that is not
// NFULNL_MSG_PACKET gives an Error too (the caller skips it).
Result<NflogRecord> parse_nflog_message(const nlmsghdr* nlh);

struct DecodeContext {
    // ifindex -> name in the traced netns; "" when unknown.
    std::function<std::string(uint32_t)> ifname;
    std::optional<uint32_t> netns;           // inode of the traced netns
    int64_t realtime_minus_mono_ns = 0;      // CLOCK_REALTIME - CLOCK_MONOTONIC now
    uint64_t recv_mono_ns = 0;               // when the message was read
};
// A TRACE record becomes a Rule event; anything else (an admin's LOG rule
// that reached our logger) gives nullopt.
std::optional<TraceEvent> record_to_event(const NflogRecord& rec, const DecodeContext& ctx);

// ---- nf_tables trace events (NFNLGRP_NFTRACE) ---------------------------

struct NftTraceStats {
    uint64_t messages = 0;   // NFT_MSG_TRACE messages handed in
    uint64_t malformed = 0;  // could not be decoded (counted, skipped)
    uint64_t own = 0;        // of the tool's own table (not shown)
    uint64_t events = 0;     // NftRule events made
};

// From NFT_MSG_TRACE messages to NftRule events: decodes each (a malformed
// message is counted and skipped, never fatal), leaves out the messages of
// the tool's own table (inet iptables_trace), correlates the messages of
// one base-chain call, leaves out the base chain's own end (its policy
// follows as its own event), and fills the packet from the call's first
// message: headers, iif / oif names (ctx.ifname, the listener's netns),
// the MAC for Ethernet. The hook is known for the base chains iptables-nft
// makes (named after their hook in an xtables table); for other chains it
// is unknown (hook_unknown). Rule numbers and text come later
// (nft::make_nft_enricher). Pure: tests feed it captured bytes.
class NftTraceHandler {
public:
    explicit NftTraceHandler(std::string own_table);
    // One netlink message (nlmsghdr onwards). nullopt: nothing to show.
    std::optional<TraceEvent> handle(std::span<const uint8_t> msg, const DecodeContext& ctx);
    const NftTraceStats& stats() const { return stats_; }
    const nft::CorrelatorStats& correlator_stats() const { return corr_.stats(); }

private:
    std::string own_table_;
    nft::TraceCorrelator corr_;
    NftTraceStats stats_;
};

// Counts messages missing between consecutive NFULA_SEQ values.
class SeqTracker {
public:
    SeqTracker() = default;
    // first: the number the first record should carry (0 for an instance we
    // created ourselves), so losses before the first record count too.
    explicit SeqTracker(uint32_t first) : next_(first) {}
    // Returns how many were lost just before this one (0 for the first).
    uint64_t observe(uint32_t seq);
    uint64_t lost() const { return lost_; }

private:
    std::optional<uint32_t> next_;
    uint64_t lost_ = 0;
};

// ---- filter translation -------------------------------------------------

// One match of an nft rule: load into a register, optionally mask, compare.
struct NftMatch {
    enum class Kind { NfProto, L4Proto, Payload };
    Kind kind = Kind::Payload;
    uint32_t base = 0;                       // NFT_PAYLOAD_*_HEADER (Payload)
    uint32_t offset = 0;                     // bytes, Payload
    uint32_t len = 0;                        // bytes loaded and compared
    std::vector<uint8_t> mask;               // empty: no bitwise
    std::vector<uint8_t> value;              // network order
    std::string text;                        // nft syntax, for logs and tests
};

// A conjunction of matches followed by "meta nftrace set 1". The rules of
// one chain form a disjunction (a packet is marked when any rule matches).
struct NftTraceRule {
    std::vector<NftMatch> matches;
    std::string text() const;                // "meta nfproto ipv4 ip saddr 10.0.0.1 meta nftrace set 1"
};

// The rules that mark exactly the packets the user asked for. Refuses
// filters this backend cannot honour (-p pid) and contradictory ones.
Result<std::vector<NftTraceRule>> build_trace_rules(const Options& opts);

// Pure: whether a release string ("5.10.0-46-amd64", "6.12.57+deb13-amd64")
// is at least major.minor; false when it does not parse.
bool kernel_at_least(std::string_view release, int major, int minor);

// True when no packet filter is given (every packet will be traced).
bool filter_is_empty(const Options& opts);

// The owner an nft table of ours names in its comment.
struct TableOwner {
    int pid = 0;
    uint64_t start_time = 0;  // /proc/PID/stat field 22
};
std::string format_owner_comment(const TableOwner& o);
// Only the exact form format_owner_comment() writes: a table whose comment
// is anything else (missing, foreign, trailing text) is not ours to delete.
std::optional<TableOwner> parse_owner_comment(std::string_view comment);

}  // namespace itr::netlink
