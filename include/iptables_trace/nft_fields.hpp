// The key/value fields one nft rule line carries, from a correlated and
// looked-up trace record. Pure; the column and JSON sinks decide how to
// print them. Keys that mean the same as on the legacy `ipttrace=` lines are
// spelled the same (table, chain, rulenum with N / return / policy), so one
// grep finds both.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iptables_trace/nft_trace.hpp"

namespace itr::nft {

struct NftLineFields {
    // In this order:
    //   family   the table's family: ip, ip6, inet, arp, bridge, netdev
    //   table, chain
    //   rulenum  the rule's 1-based position in its chain (the iptables rule
    //            number in iptables-nft tables), "return" for the end of a
    //            chain, "policy" for the base chain's policy, "?" for a rule
    //            whose position is unknown
    //   handle   the rule's handle; rules only
    //   verdict  ACCEPT, DROP, QUEUE:<num>, STOLEN, CONTINUE, RETURN,
    //            JUMP:<chain>, GOTO:<chain>; a chain's end says RETURN, a
    //            policy its verdict
    std::vector<std::pair<std::string, std::string>> fields;
    // The rule as iptables-nft-save or nft prints it, "policy DROP" /
    // "policy drop", "return"; one line (escape_rule_text). nullopt: unknown.
    std::optional<std::string> rule;
    bool rule_stale = false;  // may belong to another ruleset generation: print as rule?="..."
};

// rec.rulenum / rule_text / rule_text_stale as NftRuleText::lookup filled
// them. A record with base_chain_end set (the base chain's own end, followed
// by its policy) gets fields too; the caller may leave that line out.
NftLineFields nft_line_fields(const TraceRecord& rec);

}  // namespace itr::nft
