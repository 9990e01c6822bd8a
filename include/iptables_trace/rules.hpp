// Rulesets as iptables-save prints them, and the rule behind a trace hit.
// Pure: parsing and lookup touch nothing outside their arguments. Reading a
// network namespace's ruleset and keeping it current is in enricher.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iptables_trace/model.hpp"
#include "iptables_trace/result.hpp"

namespace itr {

enum class Family { Ipv4, Ipv6 };

// NFPROTO_IPV4 (2) -> Ipv4, NFPROTO_IPV6 (10) -> Ipv6, anything else nullopt.
std::optional<Family> family_from_pf(uint32_t pf);
std::string_view family_name(Family f);  // "IPv4" / "IPv6"

struct Chain {
    std::string name;
    // Built-in chains: "ACCEPT", "DROP", ...; user chains ("-" in the dump): nullopt.
    std::optional<std::string> policy;
    // Rule i (1-based, as `iptables -L --line-numbers` counts) is rules[i - 1],
    // each exactly the `-A CHAIN ...` line of iptables-save without the
    // `[packets:bytes] ` prefix that -c adds.
    std::vector<std::string> rules;
    bool builtin() const { return policy.has_value(); }
};

struct Table {
    std::string name;
    std::vector<Chain> chains;  // in dump order
    const Chain* find(std::string_view chain) const;
    Chain* find(std::string_view chain);
    Chain& add(std::string name, std::optional<std::string> policy);

private:
    std::unordered_map<std::string, size_t> index_;
};

struct RuleSet {
    std::vector<Table> tables;  // in dump order
    const Table* find(std::string_view table) const;
};

// Parses iptables-save / ip6tables-save output (with or without -c). Lines
// starting with '#' and blank lines are skipped. A line inside a table that
// is none of ':', '-A', '[n:m] -A', 'COMMIT' continues the previous rule
// (a comment holding a newline is printed raw by iptables-save); it is joined
// with '\n' (escape_rule_text makes it printable). Errors: a rule or chain
// outside a table, a malformed chain or counters line.
Result<RuleSet> parse_iptables_save(std::string_view text);

enum class LookupStatus {
    Ok,            // text is the answer and it is consistent with the event
    NoTable,       // the table is not in the ruleset
    NoChain,       // the chain is not in the table
    OutOfRange,    // no rule with that number (ruleset changed, or bad event)
    Inconsistent,  // text is given, but the event does not fit this ruleset
                   // (a policy/return hit whose number is not chain size + 1)
};
std::string_view lookup_status_name(LookupStatus s);

struct RuleLookup {
    LookupStatus status = LookupStatus::NoTable;
    std::optional<std::string> text;  // raw (unescaped) rule text, "policy DROP" or "return"
    // What the hit really was. The kernel reports an unconditional rule with a
    // plain verdict (`-A INPUT -j DROP`) as "policy" (built-in chain) or
    // "return" (user chain) with the rule's own number; such a hit resolves
    // to Rule here. Unknown kinds resolve by number (size + 1 = the chain's
    // end).
    RuleKind kind = RuleKind::Unknown;
    bool ok() const { return status == LookupStatus::Ok; }
};

// The text for a trace hit at (table, chain, rulenum, kind):
//   Rule:    rulenum in 1..size -> the rule; otherwise OutOfRange.
//   Policy:  rulenum == size + 1 on a built-in chain -> "policy <POLICY>";
//            rulenum in 1..size -> that rule (see RuleLookup::kind);
//            other numbers -> "policy <POLICY>" with status Inconsistent.
//   Return:  as Policy, on a user chain, text "return".
//   Unknown: by number, as above.
RuleLookup lookup_rule(const RuleSet& rs, std::string_view table, std::string_view chain,
                       uint32_t rulenum, RuleKind kind);

// One ruleset per family, for callers that hold both.
struct FamilyRuleSets {
    RuleSet ipv4;
    RuleSet ipv6;
    const RuleSet& get(Family f) const { return f == Family::Ipv4 ? ipv4 : ipv6; }
};
inline RuleLookup lookup_rule(const FamilyRuleSets& rs, Family f, std::string_view table,
                              std::string_view chain, uint32_t rulenum, RuleKind kind) {
    return lookup_rule(rs.get(f), table, chain, rulenum, kind);
}

// Makes rule text safe for one output line: printable ASCII and valid UTF-8
// pass through; '\n' '\r' '\t' become "\n" "\r" "\t"; other control bytes,
// DEL and bytes that are not valid UTF-8 become "\xNN". Backslashes pass
// through unchanged: iptables-save already doubles them inside quoted
// arguments, so "\n" here can only mean an escaped newline.
std::string escape_rule_text(std::string_view raw);

}  // namespace itr
