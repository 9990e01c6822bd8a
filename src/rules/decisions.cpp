#include "iptables_trace/decisions.hpp"

#include <algorithm>

#include "iptables_trace/names.hpp"

namespace itr {

void DecisionTally::add(const Fate& f)
{
    Key k{f.pf,
          (f.nft ? "nft:" : "") + f.table,
          f.decided ? f.chain : std::string(),
          f.decided ? f.rulenum : 0,
          static_cast<int>(f.rule_kind),
          f.decided,
          f.decided ? 0 : f.hook,
          f.verdict ? verdict_name(*f.verdict) : std::string()};
    auto [it, fresh] = rows_.try_emplace(std::move(k));
    if (fresh)
        it->second.first_seen = seen_;
    seen_++;
    it->second.count++;
    it->second.latest = f;
}

std::vector<std::string> DecisionTally::lines(size_t top) const
{
    if (rows_.empty())
        return {};
    std::vector<const Row*> order;
    for (const auto& [k, r] : rows_)
        order.push_back(&r);
    std::sort(order.begin(), order.end(), [](const Row* a, const Row* b) {
        return a->count != b->count ? a->count > b->count : a->first_seen < b->first_seen;
    });
    const size_t shown = std::min(top, order.size());
    const size_t width = std::to_string(order.front()->count).size();
    std::vector<std::string> out{"what decided the traced packets, per table (most first):"};
    for (size_t i = 0; i < shown; i++) {
        std::string n = std::to_string(order[i]->count);
        out.push_back("  " + std::string(width - n.size(), ' ') + n + "  " + format_fate(order[i]->latest));
    }
    if (shown < order.size()) {
        uint64_t rest = 0;
        for (size_t i = shown; i < order.size(); i++)
            rest += order[i]->count;
        out.push_back("and " + std::to_string(order.size() - shown) + " more rules or policies (" +
                      std::to_string(rest) + (rest == 1 ? " packet)" : " packets)"));
    }
    return out;
}

}  // namespace itr
