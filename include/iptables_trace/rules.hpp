// Rulesets as iptables-save prints them, and the rule behind a trace hit.
// Pure: parsing and lookup touch nothing outside their arguments. Reading a
// network namespace's ruleset and keeping it current is in enricher.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
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
    // Why the split of this table's text into rules may not be the kernel's
    // (text that a string holding a newline can fake, or that does not match
    // the kernel's own chain layout): the whole table, or some chains. Their
    // rule numbers are uncertain and their answers marked so, never trusted.
    std::vector<std::string> doubts;
    std::set<std::string> doubtful_chains;
    // Chains whose text holds more or fewer rules than the kernel's: a
    // string printed raw faked a rule line, so no number maps to a text.
    std::set<std::string> withheld_chains;
    bool doubtful(std::string_view chain) const;
    const Chain* find(std::string_view chain) const;
    Chain* find(std::string_view chain);
    Chain& add(std::string name, std::optional<std::string> policy);

private:
    std::unordered_map<std::string, size_t> index_;
};

struct RuleSet {
    std::vector<Table> tables;  // in dump order
    std::vector<std::string> doubts;  // about the whole text (a table faked or cut short)
    const Table* find(std::string_view table) const;
};

// Parses iptables-save / ip6tables-save output (with or without -c).
//
// The text is untrusted: a local user who owns a network namespace writes
// its comments, log prefixes and interface names, and iptables-save prints a
// newline in them raw. A quoted argument (xtables' save_string:
// `"a \"b\" \\ c"`, '"' and '\' escaped) runs to its closing quote across
// newlines; outside quotes a line that does not start a rule, a chain or a
// table continues the rule before it (a raw newline in an interface name). Both are joined with
// '\n' (escape_rule_text makes it printable).
//
// Where the split into rules is a guess the parse says so (Table::doubts,
// doubtful_chains, RuleSet::doubts) instead of trusting it: a quoted argument
// holding a line that looks like `-A CHAIN`, a chain, table or COMMIT line
// (a stray raw quote would make that a real line of its own); '#' or blank
// lines, chain lines after rules, a chain declared twice, a rule for an
// undeclared chain, a table opened inside another or twice. A raw newline
// outside quotes followed by a real-looking `-A` line cannot be told from a
// rule by the text: check_against_kernel (xt_layout.hpp) catches that.
// Errors: a rule or chain outside a table, a malformed chain or counters
// line, a table without COMMIT.
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
    // The table's text was doubtful (RuleSet/Table::doubts): the number may
    // point at another rule; show the text as uncertain at best. In a
    // withheld chain there is no text at all (status OutOfRange).
    bool doubtful = false;
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
