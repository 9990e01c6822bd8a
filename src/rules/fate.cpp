// Which entry decided each table call. Pure.
#include "iptables_trace/fate.hpp"

#include "iptables_trace/names.hpp"

namespace itr {

std::optional<Fate> FateTracker::consume(const TraceEvent& ev) {
    const bool nft = ev.kind == EventKind::Nft || ev.kind == EventKind::NftRule;
    std::string base;
    if (nft) base = ev.kind == EventKind::NftRule && !ev.base_chain.empty() ? ev.base_chain : ev.chain;
    // nf_tables trace events carry no hook: the base chain stands for it.
    Key key{ev.pkt.cpu, ev.pkt.skb, ev.pf, ev.table, nft ? 0 : ev.hook, std::move(base)};
    if (ev.kind == EventKind::Nft && !calls_.contains(key)) return std::nullopt;
    if (ev.kind == EventKind::Rule || ev.kind == EventKind::NftRule) {
        auto it = calls_.find(key);
        if (it == calls_.end()) {
            if (opts_.max_in_flight == 0) {
                ++evicted_;
                return std::nullopt;
            }
            while (calls_.size() >= opts_.max_in_flight) {
                calls_.erase(order_.front());
                order_.pop_front();
                ++evicted_;
            }
            order_.push_back(key);
            it = calls_.emplace(key, Call{ev, 0, std::prev(order_.end())}).first;
        } else {
            it->second.last = ev;
        }
        ++it->second.count;
        return std::nullopt;
    }

    Fate f;
    f.pkt = ev.pkt;
    f.mono_ns = ev.mono_ns;
    f.pf = ev.pf;
    f.hook = ev.hook;
    f.table = ev.table;
    f.verdict = ev.verdict;
    f.cost_ns = ev.cost_ns;
    auto it = calls_.find(key);
    if (it != calls_.end()) {
        const TraceEvent& r = it->second.last;
        f.decided = true;
        f.chain = r.chain;
        f.rulenum = r.rulenum;
        f.rule_kind = r.rule_kind;
        f.rule_text = r.rule_text;
        f.rule_text_stale = r.rule_text_stale;
        f.rules_seen = it->second.count;
        f.nft = nft;
        order_.erase(it->second.age);
        calls_.erase(it);
    }
    return f;
}

std::string format_fate(const Fate& f) {
    std::string out = f.verdict ? verdict_name(*f.verdict) : std::string("verdict unknown");
    out += " by ";
    if (f.nft) {
        out += "nft ";
        out += nft_family_name(f.pf);
        out += ' ';
    } else if (f.pf == 10) {
        out += "ip6tables ";
    }
    out += f.table.empty() ? std::string("?") : f.table;
    if (!f.decided) {
        out += " at ";
        out += hook_name(f.hook, f.pf);
        out += " (no rule event seen)";
        return out;
    }
    out += '/';
    out += f.chain;
    // An enriched text tells a real rule from the implicit chain end (the
    // kernel reports an unconditional `-j DROP` rule as "policy").
    const bool text_is_rule = f.rule_text && f.rule_text->starts_with("-A ");
    const char* stale = " (ruleset changed, text may be stale)";
    if (f.rule_kind == RuleKind::Rule || text_is_rule || (f.rule_kind == RuleKind::Unknown && !f.rule_text)) {
        out += " rule ";
        out += f.nft && f.rulenum == 0 ? std::string("?") : std::to_string(f.rulenum);
        if (!f.rule_text) return out + " (rule text unavailable)";
        if (f.rule_text_stale) out += stale;
        out += ": ";
        out += *f.rule_text;
        return out;
    }
    // Policy or return: the text ("policy DROP", "return") says it all.
    out += ' ';
    if (f.rule_text) {
        out += *f.rule_text;
        if (f.rule_text_stale) out += stale;
    } else {
        out += f.rule_kind == RuleKind::Return ? "return" : "policy";
        if (f.rule_kind == RuleKind::Policy && f.verdict) out += " " + verdict_name(*f.verdict);
    }
    return out;
}

}  // namespace itr
