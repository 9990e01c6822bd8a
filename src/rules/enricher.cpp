// Rule text for trace events, kept honest while rulesets change.
//
// Model. For each (netns, family, table) we keep a few versions of the
// table. A version is a fingerprint (see system_source.cpp: the table's
// entries with counters masked), the parsed iptables-save text, and the
// interval [first_seen, last_confirmed] of CLOCK_MONOTONIC time during which
// it was certainly in force: first_seen is the end of the first fingerprint
// check that saw it, last_confirmed the start of the latest check that still
// saw it. (A check's result holds at some instant inside the check, so these
// ends are the conservative ones.) iptables-save runs only when a check finds
// a new fingerprint, between two fingerprints that must agree.
//
// When to check. An event stamped t needs a check only when t is later than
// the table's last confirmation; a check then (at now > t) confirms or
// refutes the version for t. Events delivered in a batch were all stamped
// before the batch was read, so one check covers the batch. A positive
// min_check_interval caps the checks; events inside the interval are then
// answered from the last version unconfirmed, a window the user chose.
// tick() checks known tables in the background (every tick_interval), so a
// change made while no packet hits the table is found before the next one.
//
// The honesty rule. An event is answered from the version whose interval
// holds t: not stale. An event stamped in the gap between two versions
// (after the old one was last confirmed, before the new one was first seen)
// may belong to either, or to one we never saw. Both are asked, and the
// event itself narrows them: a rule number past the chain's end, or a
// policy/return hit whose number is not the chain's size + 1, rules a
// version out. If the versions left agree, the answer is given, not stale;
// otherwise the answer from the newest fitting version is given and marked
// stale (rule_text_stale), never silently. Also stale: an answer that fits
// no version we hold, answers while checks fail (netns gone, program
// missing), and events older than every version kept after older ones were
// dropped. Events older than the very first read of a table (a container
// netns met for the first time) are answered from that read if they fit it:
// no change was detected, and the gap is the few milliseconds between the
// event and its first lookup; prime() closes it for netns known at start.
// An A-B-A change between two checks is invisible to any sampling scheme.
#include <algorithm>
#include <deque>

#include "iptables_trace/enricher.hpp"
#include "iptables_trace/stop.hpp"

namespace itr {

struct Enricher::Version {
    Fingerprint fp;
    std::shared_ptr<const RuleSet> rules;
    uint64_t first_seen = 0;
    uint64_t last_confirmed = 0;
};

struct Enricher::TableState {
    std::deque<Version> versions;  // oldest first
    bool trimmed = false;          // older versions were dropped
    bool failing = false;          // the last check or read failed
    bool checked = false;
    // A check saw a fingerprint we hold no text for and the read was put
    // off (ReadLimiter): the newest version is no longer the one in force.
    bool behind = false;
    uint64_t last_check_start = 0;
    uint64_t retry_at = 0;
    uint64_t last_use = 0;
};

Enricher::Enricher(std::unique_ptr<RulesetSource> src, EnricherOptions opts)
    : src_(std::move(src)), opts_(opts), limiter_(opts.min_reread_interval), diags_(opts.max_diagnostics, "rule text: further diagnostics suppressed") {
    if (opts_.max_versions < 2) opts_.max_versions = 2;
    if (opts_.max_tables < 1) opts_.max_tables = 1;
}

Enricher::~Enricher() = default;

namespace {

std::string key_text(uint32_t netns, Family f, const std::string& table) {
    return "netns " + std::to_string(netns) + " (" + std::string(family_name(f)) + " " + table + ")";
}

}  // namespace

void Enricher::diag(const std::string& key, const std::string& msg) { diags_.add(key, msg); }

std::vector<std::string> Enricher::take_diagnostics() { return diags_.take(); }

std::string Enricher::summary() const {
    return "rules: lookups " + std::to_string(stats_.lookups) + ", reads " + std::to_string(stats_.reads) +
           ", changes " + std::to_string(stats_.changes) + ", stale " + std::to_string(stats_.stale);
}

Status EnricherChain::prime(std::optional<uint32_t> netns) {
    std::string why;
    for (auto& p : parts_)
        if (auto st = p->prime(netns); !st) why += (why.empty() ? "" : "; ") + st.error().what;
    if (why.empty()) return ok_status();
    return Error{why, ""};
}

void EnricherChain::enrich(TraceEvent& ev) {
    for (auto& p : parts_) p->enrich(ev);
}

void EnricherChain::tick() {
    for (auto& p : parts_) p->tick();
}

std::vector<std::string> EnricherChain::take_diagnostics() {
    std::vector<std::string> out;
    for (auto& p : parts_)
        for (auto& d : p->take_diagnostics()) out.push_back(std::move(d));
    return out;
}

std::string EnricherChain::summary() const {
    std::string out;
    for (const auto& p : parts_) out += (out.empty() ? "" : "; ") + p->summary();
    return out;
}

Enricher::TableState& Enricher::state_for(const Key& k) {
    auto it = states_.find(k);
    if (it == states_.end()) {
        if (states_.size() >= opts_.max_tables) {
            auto victim = std::min_element(states_.begin(), states_.end(), [](const auto& a, const auto& b) {
                return a.second->last_use < b.second->last_use;
            });
            states_.erase(victim);
        }
        it = states_.emplace(k, std::make_unique<TableState>()).first;
    }
    it->second->last_use = ++use_clock_;
    return *it->second;
}

void Enricher::check(const Key& k, TableState& st) {
    const auto& [netns, fam, table] = k;
    uint64_t a = src_->now_ns();
    auto fp = src_->fingerprint(netns, fam, table);
    uint64_t b = src_->now_ns();
    ++stats_.checks;
    st.checked = true;
    st.last_check_start = a;
    if (!fp) {
        ++stats_.failures;
        st.failing = true;
        st.retry_at = b + uint64_t(opts_.retry_after.count());
        diag(key_text(netns, fam, table) + fp.error().what,
             "rule text for " + key_text(netns, fam, table) + ": " + fp.error().what);
        return;
    }
    if (!st.versions.empty() && *fp == st.versions.back().fp) {
        st.versions.back().last_confirmed = std::max(st.versions.back().last_confirmed, a);
        st.failing = false;
        st.behind = false;
        return;
    }
    const bool held = std::any_of(st.versions.begin(), st.versions.end(),
                                  [&](const Version& v) { return v.fp == *fp; });
    if (!st.behind && !st.versions.empty()) ++stats_.changes;
    if (!held && !st.versions.empty() && !limiter_.try_acquire(netns, b)) {
        if (!st.behind) diag(key_text(netns, fam, table) + "deferred",
                             "rule text for " + key_text(netns, fam, table) +
                                 ": its rules change faster than they are re-read; answers meanwhile are marked rule?=");
        ++stats_.deferred;
        st.behind = true;
        return;
    }
    st.behind = false;
    read(k, st, *fp, b);
}

bool Enricher::waiting(const Key& k, const TableState& st, uint64_t now) const {
    return st.behind && !limiter_.ready(std::get<0>(k), now);
}

bool Enricher::read(const Key& k, TableState& st, Fingerprint seen, uint64_t seen_end) {
    const auto& [netns, fam, table] = k;
    auto fail = [&](const std::string& why) {
        ++stats_.failures;
        st.failing = true;
        st.retry_at = src_->now_ns() + uint64_t(opts_.retry_after.count());
        diag(key_text(netns, fam, table) + why, "rule text for " + key_text(netns, fam, table) + ": " + why);
        return false;
    };
    auto push = [&](std::shared_ptr<const RuleSet> rules, uint64_t first_seen, uint64_t last_confirmed) {
        st.versions.push_back(Version{seen, std::move(rules), first_seen, last_confirmed});
        while (st.versions.size() > opts_.max_versions) {
            st.versions.pop_front();
            st.trimmed = true;
        }
        st.failing = false;
        return true;
    };
    for (int attempt = 0; attempt < 3; ++attempt) {
        // A table that went back to a version we still hold needs no re-read.
        for (const Version& v : st.versions)
            if (v.fp == seen) return push(v.rules, seen_end, seen_end - 1);
        if (!seen.present) return push(std::make_shared<RuleSet>(), seen_end, seen_end - 1);
        ++stats_.reads;
        auto text = src_->save(netns, fam, table);
        if (!text) return fail(text.error().what);
        uint64_t a2 = src_->now_ns();
        auto fp2 = src_->fingerprint(netns, fam, table);
        uint64_t b2 = src_->now_ns();
        ++stats_.checks;
        if (!fp2) return fail(fp2.error().what);
        if (*fp2 == seen) {
            auto parsed = parse_iptables_save(*text);
            if (!parsed) return fail(parsed.error().what);
            if (seen.layout) check_against_kernel(*parsed, table, *seen.layout);
            for (const std::string& d : parsed->doubts)
                diag(key_text(netns, fam, table) + d, "rule text for " + key_text(netns, fam, table) + ": " + d +
                                                          ": its rule numbers are marked rule?=");
            if (const Table* t = parsed->find(table)) {
                for (const std::string& d : t->doubts)
                    diag(key_text(netns, fam, table) + d, "rule text for " + key_text(netns, fam, table) + ": " +
                                                              d + ": its rule numbers are marked rule?=");
                for (const std::string& c : t->doubtful_chains)
                    diag(key_text(netns, fam, table) + "chain " + c,
                         "rule text for " + key_text(netns, fam, table) + ": chain " + c +
                             (t->withheld_chains.count(c)
                                  ? " shows another number of rules than the kernel holds (a string printed raw "
                                    "holding a newline?): no text for its rules"
                                  : " may not split into the kernel's rules (a quoted string holding a line like "
                                    "a rule): marked rule?="));
            }
            st.last_check_start = std::max(st.last_check_start, a2);
            return push(std::make_shared<RuleSet>(std::move(*parsed)), seen_end, a2);
        }
        // Changed while being read: the text may mix both; read again.
        ++stats_.changes;
        seen = *fp2;
        seen_end = b2;
        st.last_check_start = a2;
    }
    return fail("the ruleset kept changing while being read");
}

Status Enricher::prime(std::optional<uint32_t> netns_opt) {
    const uint32_t netns = netns_opt.value_or(src_->own_netns());
    std::optional<Error> first_error;
    for (Family fam : {Family::Ipv4, Family::Ipv6}) {
        auto tables = src_->list_tables(netns, fam);
        if (!tables) {
            if (!first_error) first_error = tables.error();
            continue;
        }
        for (const std::string& t : *tables) {
            // One iptables-save per table: a stop asked for meanwhile need
            // not wait for all of them.
            if (stop_requested()) return ok_status();
            Key k{netns, fam, t};
            TableState& st = state_for(k);
            uint64_t before = stats_.failures;
            check(k, st);
            if (stats_.failures != before && !first_error)
                first_error = Error{"read rules of " + key_text(netns, fam, t), "see the diagnostics"};
        }
    }
    if (first_error) return *first_error;
    return ok_status();
}

void Enricher::tick() {
    const uint64_t now = src_->now_ns();
    const uint64_t every = uint64_t(opts_.tick_interval.count());
    for (auto& [k, st] : states_) {
        if (st->checked && now - st->last_check_start < every) continue;
        if (st->failing && now < st->retry_at) continue;
        if (waiting(k, *st, now)) continue;
        check(k, *st);
    }
}

void Enricher::enrich(TraceEvent& ev) {
    if (ev.kind != EventKind::Rule) return;
    auto fam = family_from_pf(ev.pf);
    if (!fam || ev.table.empty() || ev.chain.empty()) return;
    ++stats_.lookups;
    // 0 or absent: the backend could not tell; the tracer's own netns.
    const uint32_t netns = ev.pkt.netns.value_or(0) ? *ev.pkt.netns : src_->own_netns();
    Key k{netns, *fam, ev.table};
    TableState& st = state_for(k);
    const uint64_t now = src_->now_ns();
    const uint64_t t = ev.mono_ns ? ev.mono_ns : now;

    bool rate_limited = false;
    auto maybe_check = [&](bool force) {
        if (!st.versions.empty() && t <= st.versions.back().last_confirmed) return;
        if (st.failing && now < st.retry_at) return;
        uint64_t now2 = src_->now_ns();
        if (waiting(k, st, now2)) return;
        if (!force && st.checked && now2 - st.last_check_start < uint64_t(opts_.min_check_interval.count())) {
            rate_limited = true;
            return;
        }
        rate_limited = false;
        check(k, st);
    };
    maybe_check(false);

    ev.rule_text.reset();
    ev.rule_text_stale = false;

    for (int pass = 0; pass < 2; ++pass) {
        if (st.versions.empty()) return;
        // Candidate versions for t, and whether one of them is certain.
        std::vector<const Version*> cands;
        bool certain = false;
        const auto& vs = st.versions;
        if (t > vs.back().last_confirmed) {
            cands.push_back(&vs.back());
            // rate-limited: the user's window; failing or behind: unknown
            certain = !st.failing && !st.behind;
        } else if (t < vs.front().first_seen) {
            cands.push_back(&vs.front());
            certain = !st.trimmed;
        } else {
            for (size_t i = 0; i < vs.size(); ++i) {
                if (vs[i].first_seen <= t && t <= vs[i].last_confirmed) {
                    cands = {&vs[i]};
                    certain = true;
                    break;
                }
                if (i + 1 < vs.size() && vs[i].last_confirmed < t && t < vs[i + 1].first_seen) {
                    cands = {&vs[i], &vs[i + 1]};
                    // A gap: certain only if the fitting versions agree (below).
                    certain = true;
                    break;
                }
            }
        }
        if (cands.empty()) return;

        std::vector<RuleLookup> fits;
        std::optional<RuleLookup> newest_any;
        bool doubtful = false;
        for (const Version* v : cands) {
            RuleLookup r = lookup_rule(*v->rules, ev.table, ev.chain, ev.rulenum, ev.rule_kind);
            doubtful |= r.doubtful;
            if (r.text) newest_any = r;
            if (r.ok()) fits.push_back(std::move(r));
        }
        if (fits.empty() && rate_limited && pass == 0) {
            // The event does not fit what we hold: do not wait for the interval.
            maybe_check(true);
            continue;
        }
        bool stale;
        std::optional<RuleLookup> answer;
        if (fits.empty()) {
            answer = newest_any;
            stale = true;
        } else {
            answer = fits.back();
            bool agree = std::all_of(fits.begin(), fits.end(),
                                     [&](const RuleLookup& r) { return r.text == fits.back().text; });
            stale = !(certain && agree);
        }
        // The text's split into rules may not be the kernel's: the number
        // may name another rule than the text shown.
        if (doubtful) {
            stale = true;
            ++stats_.doubtful;
        }
        if (answer && answer->text) ev.rule_text = escape_rule_text(*answer->text);
        ev.rule_text_stale = stale;
        if (stale) ++stats_.stale;
        if (!stale && answer && answer->kind != RuleKind::Unknown) ev.rule_kind = answer->kind;
        return;
    }
}

}  // namespace itr
