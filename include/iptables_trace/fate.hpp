// The packet's fate: for each table call (one ipt_do_table / ip6t_do_table
// for one packet at one hook), what decided its verdict. Pure: consumes the
// event stream, touches nothing else.
//
// Grouping. The kernel side emits the Rule events of a table call before
// that call's Table event, on the same CPU. Calls nest (a REJECT target sends
// its reset through OUTPUT inside the INPUT call), but a nested call is for a
// different skb, and a packet goes through one table at one hook at a time,
// so a call is identified by (cpu, skb, pf, table, hook). The deciding entry
// is the last Rule event of the call: the rule whose target gave the verdict,
// or the chain policy (a built-in chain's end). Rule events of non-terminal
// targets (LOG, MARK, a jump) come earlier and are overtaken.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "iptables_trace/model.hpp"

namespace itr {

struct Fate {
    Packet pkt;                 // from the Table event
    uint64_t mono_ns = 0;       // the Table event's stamp (the call's return)
    uint32_t pf = 0;
    uint32_t hook = 0;
    std::string table;
    std::optional<uint32_t> verdict;   // raw, as in TraceEvent
    std::optional<uint64_t> cost_ns;
    // The deciding entry; decided == false when no Rule event of the call
    // was seen (lost, or the packet was not marked for tracing).
    bool decided = false;
    std::string chain;
    uint32_t rulenum = 0;
    RuleKind rule_kind = RuleKind::Unknown;
    std::optional<std::string> rule_text;  // when the Rule event was enriched
    bool rule_text_stale = false;
    uint32_t rules_seen = 0;    // Rule events in this call (matches, jumps, returns)
    // An nf_tables base chain call (its NftRule events, closed by its Nft
    // event): table is the nft table, chain the deciding entry's chain,
    // rulenum 0 when its position is unknown.
    bool nft = false;

    bool dropped() const { return verdict && (*verdict & 0xff) == 0; }  // NF_DROP (REJECT too)
};

struct FateOptions {
    size_t max_in_flight = 4096;  // table calls waiting for their Table event
};

class FateTracker {
public:
    explicit FateTracker(FateOptions opts = {}) : opts_(opts) {}

    // Feed every event in arrival order (after enrichment, so that Rule
    // events carry their text). Returns the fate when ev is a Table event,
    // or an Nft event (a base chain's verdict) of a call whose NftRule
    // events were seen; nullopt otherwise (Rule and NftRule events are
    // held, an Nft event without them is ignored: nothing says what decided).
    // NftRule events belong to the call of their base chain (keyed on cpu,
    // skb, family, table and base chain; a packet walks one hook at a time).
    std::optional<Fate> consume(const TraceEvent& ev);

    size_t in_flight() const { return calls_.size(); }
    // Table calls whose Rule events were dropped to stay under the cap.
    uint64_t evicted() const { return evicted_; }

private:
    // cpu, skb, pf, table, hook, nft base chain ("" for xtables calls).
    using Key = std::tuple<std::optional<uint32_t>, uint64_t, uint32_t, std::string, uint32_t, std::string>;
    struct Call {
        TraceEvent last;  // the latest Rule event
        uint32_t count = 0;
        std::list<Key>::iterator age;
    };
    FateOptions opts_;
    std::map<Key, Call> calls_;
    std::list<Key> order_;  // oldest first
    uint64_t evicted_ = 0;
};

// One line, e.g.
//   DROP by filter/INPUT rule 3: -A INPUT -s 10.0.0.0/8 -j DROP
//   DROP by filter/INPUT policy DROP
//   ACCEPT by ip6tables filter/MYCHAIN rule 2: -A MYCHAIN -p ipv6-icmp -j ACCEPT
//   DROP by filter/INPUT rule 3 (rule text unavailable)
//   DROP by filter/INPUT rule 3 (ruleset changed, text may be stale): -A ...
//   DROP by filter at INPUT (no rule event seen)
//   DROP by nft ip filter/BLOCK rule 1: -A BLOCK -s 10.77.0.2/32 -j DROP
//   DROP by nft inet t/input policy drop
// The rule text is used as given (the enricher has escaped it). IPv6 tables
// read "ip6tables <table>".
std::string format_fate(const Fate& f);

}  // namespace itr
