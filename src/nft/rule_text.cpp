// Rule numbers and text per netns and ruleset generation (NftRuleText).
//
// Model, as in rules/enricher.cpp: per netns a few versions, each a
// generation, its index, and the CLOCK_MONOTONIC interval
// [first_seen, last_confirmed] during which it was certainly in force. The
// nf_tables generation only grows, so a version seen at two instants was in
// force all the time between them (no A-B-A as with the legacy tables'
// fingerprints), and two consecutive numbers mean no ruleset we did not see. An event stamped t after the last confirmation triggers a
// generation check (one netlink round trip; a batch of events stamped
// before it shares it); a new generation is read (nft, iptables-nft-save,
// the rule dump) once.
#include <algorithm>

#include "iptables_trace/nft_rules.hpp"

namespace itr::nft {

NftRuleText::NftRuleText(std::unique_ptr<NftRulesetSource> src, NftRuleTextOptions opts)
    : src_(std::move(src)), opts_(opts), limiter_(opts.min_reread_interval), diags_(opts.max_diagnostics, "nft rule text: further diagnostics suppressed") {
    opts_.max_versions = std::max<size_t>(opts_.max_versions, 2);
    opts_.max_netns = std::max<size_t>(opts_.max_netns, 1);
}

NftRuleText::~NftRuleText() = default;

std::vector<std::string> NftRuleText::take_diagnostics() { return diags_.take(); }

NftRuleText::NetnsState& NftRuleText::state_for(uint32_t netns) {
    auto it = states_.find(netns);
    if (it == states_.end()) {
        if (states_.size() >= opts_.max_netns) {
            auto victim = std::min_element(states_.begin(), states_.end(), [](const auto& a, const auto& b) {
                return a.second.last_use < b.second.last_use;
            });
            states_.erase(victim);
        }
        it = states_.emplace(netns, NetnsState{}).first;
    }
    it->second.last_use = ++use_clock_;
    return it->second;
}

void NftRuleText::check(uint32_t netns, NetnsState& st) {
    const uint64_t a = src_->now_ns();
    auto gen = src_->generation(netns);
    const uint64_t b = src_->now_ns();
    ++stats_.checks;
    st.last_check = a;
    if (!gen) {
        ++stats_.failures;
        st.failing = true;
        st.retry_at = b + uint64_t(opts_.retry_after.count());
        diags_.add("nft rule text for netns " + std::to_string(netns) + ": " + gen.error().what);
        return;
    }
    if (!st.versions.empty() && *gen == st.versions.back().generation) {
        st.versions.back().last_confirmed = std::max(st.versions.back().last_confirmed, a);
        st.failing = false;
        st.behind = false;
        return;
    }
    if (!st.versions.empty() && !st.behind) ++stats_.changes;
    if (!st.versions.empty() && !limiter_.try_acquire(netns, b)) {
        if (!st.behind)
            diags_.add("nft rule text for netns " + std::to_string(netns) +
                       ": its rules change faster than they are re-read; answers meanwhile are marked rule?=");
        ++stats_.deferred;
        st.behind = true;
        return;
    }
    st.behind = false;
    // Seen at b at the latest; read() narrows it down.
    const uint64_t read_start = src_->now_ns();
    ++stats_.reads;
    auto snap = src_->read(netns);
    const uint64_t read_end = src_->now_ns();
    auto fail = [&](const std::string& why) {
        ++stats_.failures;
        st.failing = true;
        st.retry_at = read_end + uint64_t(opts_.retry_after.count());
        diags_.add("nft rule text for netns " + std::to_string(netns) + ": " + why);
    };
    if (!snap) return fail(snap.error().what);
    auto listing = parse_nft_listing(snap->listing);
    if (!listing) return fail(listing.error().what);
    auto index = std::make_shared<RuleIndex>(
        build_rule_index(*listing, &snap->order, snap->ipt4, snap->ipt6, snap->generation));
    for (const auto& n : index->notes) diags_.add("nft rule text for netns " + std::to_string(netns) + ": " + n);
    Version v;
    v.generation = snap->generation;
    v.index = std::move(index);
    // The generation the check saw was read: in force from b (its check) to
    // read_start (the read's own checks came after). Another one: in force
    // at some instant of the read; both ends are the read's end, so only
    // events after it are answered from it without doubt.
    if (snap->generation == *gen) {
        v.first_seen = b;
        v.last_confirmed = read_start;
    } else {
        v.first_seen = read_end;
        v.last_confirmed = read_end - 1;
    }
    while (!st.versions.empty() && st.versions.back().generation == v.generation) st.versions.pop_back();
    st.versions.push_back(std::move(v));
    while (st.versions.size() > opts_.max_versions) {
        st.versions.pop_front();
        st.trimmed = true;
    }
    st.failing = false;
}

Status NftRuleText::prime(std::optional<uint32_t> netns_opt) {
    const uint32_t netns = netns_opt.value_or(src_->own_netns());
    const uint64_t failures = stats_.failures;
    check(netns, state_for(netns));
    if (stats_.failures != failures)
        return Error{"read the nftables rules of netns " + std::to_string(netns), "see the diagnostics"};
    return ok_status();
}

void NftRuleText::lookup(TraceRecord& rec, uint32_t netns, uint64_t event_mono_ns) {
    ++stats_.lookups;
    rec.rulenum.reset();
    rec.rule_text.reset();
    rec.rule_text_stale = false;
    NetnsState& st = state_for(netns);
    const uint64_t now = src_->now_ns();
    const uint64_t t = event_mono_ns ? event_mono_ns : now;

    bool rate_limited = false;
    auto maybe_check = [&](bool force) {
        if (!st.versions.empty() && t <= st.versions.back().last_confirmed) return;
        if (st.failing && src_->now_ns() < st.retry_at) return;
        if (st.behind && !limiter_.ready(netns, src_->now_ns())) return;
        if (!force && !st.versions.empty() &&
            src_->now_ns() - st.last_check < uint64_t(opts_.min_check_interval.count())) {
            rate_limited = true;
            return;
        }
        rate_limited = false;
        check(netns, st);
    };
    maybe_check(false);

    for (int pass = 0; pass < 2; ++pass) {
        const auto& vs = st.versions;
        if (vs.empty()) {
            rec.rule_text_stale = true;
            return;
        }
        std::vector<const Version*> cands;
        bool certain = false;
        if (t > vs.back().last_confirmed) {
            cands.push_back(&vs.back());
            certain = !st.failing && !st.behind;  // rate-limited: the user's window
        } else if (t < vs.front().first_seen) {
            cands.push_back(&vs.front());
            certain = !st.trimmed;
        } else {
            for (size_t i = 0; i < vs.size() && cands.empty(); ++i) {
                if (vs[i].first_seen <= t && t <= vs[i].last_confirmed) {
                    cands.push_back(&vs[i]);
                    certain = true;
                } else if (i + 1 < vs.size() && vs[i].last_confirmed < t && t < vs[i + 1].first_seen) {
                    cands = {&vs[i], &vs[i + 1]};
                    // Each commit adds one to the generation: when the two are
                    // consecutive no other ruleset was in force in between,
                    // and the answer is certain if both versions that know
                    // the rule give the same (below).
                    certain = vs[i + 1].generation == vs[i].generation + 1;
                }
            }
        }
        std::vector<RuleAnswer> fits;
        for (const Version* v : cands) {
            RuleAnswer a = lookup_rule(*v->index, rec.msg);
            if (a.status == AnswerStatus::Ok) fits.push_back(std::move(a));
        }
        if (fits.empty() && rate_limited && pass == 0) {
            maybe_check(true);  // the event does not fit what we hold: look now
            continue;
        }
        if (fits.empty()) {
            rec.rule_text_stale = true;
            ++stats_.stale;
            return;
        }
        const RuleAnswer& a = fits.back();
        const bool agree = std::all_of(fits.begin(), fits.end(), [&](const RuleAnswer& f) {
            return f.rulenum == a.rulenum && f.text == a.text;
        });
        rec.rulenum = a.rulenum;
        rec.rule_text = a.text;
        rec.rule_text_stale = !(certain && agree);
        if (rec.rule_text_stale) ++stats_.stale;
        return;
    }
}

}  // namespace itr::nft
