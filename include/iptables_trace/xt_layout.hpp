// The chains of a legacy xtables table as the kernel holds them (names,
// policies, rule counts), read from the entries IPT_SO_GET_ENTRIES returns,
// and the check of an iptables-save parse against them.
//
// Why: iptables-save prints interface names, set names and the like raw, so
// a network namespace's owner can put "\n-A INPUT ..." in one and make a line
// that is indistinguishable from a rule. Such a phantom rule always adds one
// to some chain's count (a real rule can only be swallowed inside quotes,
// which the parser already doubts), so comparing each chain's count with the
// kernel's finds it. Pure.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iptables_trace/rules.hpp"

namespace itr {

// One entry of the table blob, as far as the chain layout needs it.
struct XtEntryView {
    uint32_t offset = 0;          // from the start of the entries
    std::string target;           // "" for the standard target, "ERROR", ...
    std::optional<int32_t> verdict;  // the standard target's verdict
    std::string error_name;       // the ERROR target's data: a user chain's name
};

struct XtChainShape {
    std::string name;
    bool builtin = false;
    std::optional<std::string> policy;  // built-in chains: "ACCEPT" / "DROP" (nullopt: another verdict)
    size_t rules = 0;
    friend bool operator==(const XtChainShape&, const XtChainShape&) = default;
};

struct XtLayout {
    std::vector<XtChainShape> chains;  // kernel order
    std::string error;  // non-empty: the entries do not form chains as iptables lays them out
    friend bool operator==(const XtLayout&, const XtLayout&) = default;
};

// The chains of a table from its entries (in order), its valid_hooks mask
// and the hook_entry / underflow offsets of IPT_SO_GET_INFO. A built-in
// chain runs from its hook entry to its underflow (the policy); a user chain
// from an ERROR entry naming it to the RETURN before the next ERROR entry;
// the table ends with an ERROR entry. Anything else sets error.
XtLayout xt_chain_layout(const std::vector<XtEntryView>& entries, uint32_t valid_hooks,
                         const std::array<uint32_t, 5>& hook_entry, const std::array<uint32_t, 5>& underflow);

// Compares the parse of `iptables-save -t <table>` with the kernel's layout
// of that table and records every disagreement as a doubt: another table in
// the text (rs.doubts), a chain missing on either side, another policy, a
// layout that could not be read (the table), a different rule count (that
// chain: its text is withheld, since no number maps to a rule).
void check_against_kernel(RuleSet& rs, std::string_view table, const XtLayout& kernel);

}  // namespace itr
