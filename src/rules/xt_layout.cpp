// The kernel's chain layout of a legacy table and the check of a parse
// against it (xt_layout.hpp). Pure.
#include "iptables_trace/xt_layout.hpp"

namespace itr {
namespace {

constexpr const char* kHookChains[5] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
// Standard verdicts are -verdict - 1: NF_DROP 0, NF_ACCEPT 1; XT_RETURN is -NF_REPEAT - 1.
constexpr int32_t kDrop = -1, kAccept = -2, kReturn = -5;

XtLayout broken(std::string why) {
    XtLayout l;
    l.error = std::move(why);
    return l;
}

}  // namespace

XtLayout xt_chain_layout(const std::vector<XtEntryView>& entries, uint32_t valid_hooks,
                         const std::array<uint32_t, 5>& hook_entry, const std::array<uint32_t, 5>& underflow) {
    XtLayout out;
    std::optional<size_t> open;  // index into out.chains
    int open_hook = -1;
    unsigned hooks_seen = 0;
    const size_t n = entries.size();
    if (n == 0 || entries.back().target != "ERROR") return broken("the table does not end with an ERROR entry");
    for (size_t i = 0; i < n; ++i) {
        const XtEntryView& e = entries[i];
        for (int h = 0; h < 5; ++h) {
            if (!(valid_hooks & (1u << h)) || hook_entry[size_t(h)] != e.offset) continue;
            if (open) return broken("hook " + std::to_string(h) + " starts inside another chain");
            out.chains.push_back(XtChainShape{kHookChains[h], true, std::nullopt, 0});
            open = out.chains.size() - 1;
            open_hook = h;
            hooks_seen |= 1u << h;
        }
        if (e.target == "ERROR") {
            if (open) return broken("a chain head inside a chain");
            if (i + 1 == n) break;
            out.chains.push_back(XtChainShape{e.error_name, false, std::nullopt, 0});
            open = out.chains.size() - 1;
            open_hook = -1;
            continue;
        }
        if (!open) return broken("an entry outside any chain");
        XtChainShape& c = out.chains[*open];
        if (c.builtin && underflow[size_t(open_hook)] == e.offset) {
            if (!e.verdict) return broken("chain " + c.name + " has no plain policy");
            if (*e.verdict == kAccept) c.policy = "ACCEPT";
            else if (*e.verdict == kDrop) c.policy = "DROP";
            open.reset();
            continue;
        }
        if (!c.builtin && entries[i + 1].target == "ERROR") {
            // iptables ends a user chain with an unconditional RETURN; it
            // shows no rule for it.
            if (!e.verdict || *e.verdict != kReturn) return broken("chain " + c.name + " does not end in RETURN");
            open.reset();
            continue;
        }
        ++c.rules;
    }
    if (open) return broken("chain " + out.chains[*open].name + " does not end");
    if (hooks_seen != (valid_hooks & 0x1fu)) return broken("a hook without its chain");
    return out;
}

void check_against_kernel(RuleSet& rs, std::string_view table, const XtLayout& kernel) {
    for (const Table& t : rs.tables)
        if (t.name != table) rs.doubts.push_back("the text shows table " + t.name + " besides " + std::string(table));
    Table* t = nullptr;
    for (Table& cand : rs.tables)
        if (cand.name == table && !t) t = &cand;
    if (!t) return;  // lookups find no table: no text
    if (!kernel.error.empty()) {
        t->doubts.push_back("the kernel's chains could not be read: " + kernel.error);
        return;
    }
    for (const XtChainShape& k : kernel.chains) {
        const Chain* c = t->find(k.name);
        if (!c) {
            t->doubts.push_back("chain " + k.name + " missing from the text");
            continue;
        }
        if (c->builtin() != k.builtin || (k.builtin && c->policy != k.policy))
            t->doubts.push_back("chain " + k.name + " has another policy in the text");
        if (c->rules.size() != k.rules) {
            t->doubtful_chains.insert(k.name);
            t->withheld_chains.insert(k.name);
        }
    }
    for (const Chain& c : t->chains) {
        bool known = false;
        for (const XtChainShape& k : kernel.chains) known |= k.name == c.name;
        if (!known) t->doubts.push_back("chain " + c.name + " is not the kernel's");
    }
}

}  // namespace itr
