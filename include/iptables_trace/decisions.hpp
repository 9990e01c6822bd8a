// What decided the traced packets: for each deciding rule or policy, how
// many table calls it decided, for the exit summary. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "iptables_trace/fate.hpp"

namespace itr {

class DecisionTally {
public:
    void add(const Fate& f);
    bool empty() const { return rows_.empty(); }

    // A heading, then one line per deciding rule or policy, most packets
    // first (a tie: the one seen first), at most top of them, e.g.
    //   what decided the traced packets, per table (most first):
    //      12  DROP by filter/INPUT rule 3: -A INPUT -s 10.0.0.0/8 -j DROP
    //       5  ACCEPT by filter/OUTPUT policy ACCEPT
    //   and 2 more rules or policies (3 packets)
    // Nothing when nothing was decided.
    std::vector<std::string> lines(size_t top = 10) const;

private:
    // pf, table, chain, rule number, rule kind, decided, hook (undecided
    // calls only), verdict.
    using Key = std::tuple<uint32_t, std::string, std::string, uint32_t, int, bool, uint32_t, std::string>;
    struct Row {
        uint64_t count = 0;
        uint64_t first_seen = 0;
        Fate latest;  // what the line says (its rule text is the newest)
    };
    std::map<Key, Row> rows_;
    uint64_t seen_ = 0;
};

}  // namespace itr
