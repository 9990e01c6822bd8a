// Rule text for trace events: reads the legacy xtables rulesets of the
// packet's own network namespace, notices when they change, and fills
// TraceEvent::rule_text / rule_text_stale.
//
// The kernel side is behind RulesetSource so that the change and staleness
// logic is unit-tested with a fake; make_system_ruleset_source() is the real
// one (setns + iptables-legacy-save, getsockopt fingerprints).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "iptables_trace/once_diagnostics.hpp"
#include "iptables_trace/model.hpp"
#include "iptables_trace/read_limiter.hpp"
#include "iptables_trace/result.hpp"
#include "iptables_trace/rules.hpp"
#include "iptables_trace/xt_layout.hpp"

namespace itr {

// A digest of one legacy table's contents with the counters masked out:
// equal fingerprints mean the same rules (up to a 64-bit hash collision).
struct Fingerprint {
    bool present = false;  // the table exists in that netns
    uint64_t hash = 0;     // meaningful only when present
    // The kernel's chains, rule counts and policies, when the source reads
    // them: the text of iptables-save is checked against them.
    std::optional<XtLayout> layout;
    friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};

// Where rulesets come from. All times are CLOCK_MONOTONIC nanoseconds, the
// clock trace events are stamped with.
class RulesetSource {
public:
    virtual ~RulesetSource() = default;
    virtual uint64_t now_ns() = 0;
    // The inode of the caller's own network namespace (for events without one).
    virtual uint32_t own_netns() = 0;
    // Cheap: no process is started. Never creates the table as a side effect.
    virtual Result<Fingerprint> fingerprint(uint32_t netns, Family f, const std::string& table) = 0;
    // The tables that exist in that netns for that family.
    virtual Result<std::vector<std::string>> list_tables(uint32_t netns, Family f) = 0;
    // iptables-save text for one table (or all when table is empty).
    virtual Result<std::string> save(uint32_t netns, Family f, const std::string& table) = 0;
};

struct SystemSourceOptions {
    std::chrono::milliseconds save_timeout{5000};
    size_t max_save_bytes = size_t{256} << 20;
    // Overrides the iptables-save program (tests); empty: search for
    // iptables-legacy-save / ip6tables-legacy-save, then iptables-save.
    std::string save_program_v4;
    std::string save_program_v6;
};

std::unique_ptr<RulesetSource> make_system_ruleset_source(const SystemSourceOptions& opts = {});

// Rule text for trace events, as the pipeline sees it: one interface for
// every source (the legacy xtables rulesets here, the nf_tables ones in
// nft_rules.hpp), so the pipeline stays the same whichever the backend
// reports. Each fills the events of its own kinds and leaves the others
// alone.
class RuleTextEnricher {
public:
    virtual ~RuleTextEnricher() = default;
    // Reads the rulesets of netns (the own one when nullopt) now, before
    // the first events are enriched.
    virtual Status prime(std::optional<uint32_t> netns) = 0;
    // Fills rule_text (escaped, one line), rule_text_stale and, where the
    // source knows them, the rule number of the events of its kinds.
    virtual void enrich(TraceEvent& ev) = 0;
    // After each poll, also one that brought no event.
    virtual void tick() {}
    // Diagnostics queued since the last call, each distinct one once.
    virtual std::vector<std::string> take_diagnostics() = 0;
    // For the exit summary: "rules: lookups 3, reads 1, changes 0, stale 0".
    virtual std::string summary() const = 0;
};

// Several sources as one: each event goes to every one of them (each takes
// only its own kinds); prime primes all and reports every failure.
class EnricherChain final : public RuleTextEnricher {
public:
    explicit EnricherChain(std::vector<std::unique_ptr<RuleTextEnricher>> parts) : parts_(std::move(parts)) {}
    Status prime(std::optional<uint32_t> netns) override;
    void enrich(TraceEvent& ev) override;
    void tick() override;
    std::vector<std::string> take_diagnostics() override;
    std::string summary() const override;

private:
    std::vector<std::unique_ptr<RuleTextEnricher>> parts_;
};

struct EnricherOptions {
    // Fingerprint checks are triggered by an event newer than the last check
    // of its table; this spaces them out at least this much. 0 (default) is
    // exact: every answer is backed by a check made after the event. With a
    // positive interval an answer for an event inside it comes from the last
    // confirmed ruleset unconfirmed (documented trade-off, see enricher.cpp).
    std::chrono::nanoseconds min_check_interval{0};
    // After a failure (netns gone, no iptables-save) the table is not tried
    // again for this long; answers meanwhile come from the last version, stale.
    std::chrono::nanoseconds retry_after{std::chrono::seconds(2)};
    // tick() re-checks every known table whose last check is older than this.
    std::chrono::nanoseconds tick_interval{std::chrono::milliseconds(250)};
    // A netns whose tables changed is read again (iptables-save) at most
    // once per this interval, whatever the number of its tables that
    // changed; events meanwhile get the last text read, marked uncertain.
    std::chrono::nanoseconds min_reread_interval{std::chrono::milliseconds(500)};
    size_t max_versions = 4;   // ruleset versions kept per table
    size_t max_tables = 512;   // (netns, family, table) states kept, LRU
    size_t max_diagnostics = 32;  // distinct diagnostics ever queued
};

struct EnricherStats {
    uint64_t lookups = 0;
    uint64_t checks = 0;     // fingerprint checks
    uint64_t reads = 0;      // iptables-save runs
    uint64_t changes = 0;    // fingerprint changes detected
    uint64_t stale = 0;      // events marked stale
    uint64_t failures = 0;   // checks or reads that failed
    uint64_t deferred = 0;   // re-reads put off by min_reread_interval
    uint64_t doubtful = 0;   // answers from text whose split into rules was in doubt
};

class Enricher final : public RuleTextEnricher {
public:
    explicit Enricher(std::unique_ptr<RulesetSource> src, EnricherOptions opts = {});
    ~Enricher();
    Enricher(const Enricher&) = delete;
    Enricher& operator=(const Enricher&) = delete;

    // Reads every table of both families in netns now (call it for the own
    // netns, or the -N one, before tracing starts). An absent family is not
    // an error; an unreachable netns or missing iptables-save is.
    Status prime(std::optional<uint32_t> netns = std::nullopt) override;

    // Fills rule_text (escaped, one line) and rule_text_stale for
    // EventKind::Rule events with pf 2 or 10; other events are left alone.
    // Never throws for a missing netns or program: the text stays empty and a
    // diagnostic is queued. May correct rule_kind: a "policy"/"return" report
    // that is really an unconditional rule becomes RuleKind::Rule, an Unknown
    // kind is resolved, when the answer is not stale.
    void enrich(TraceEvent& ev) override;

    // Call from the event loop, also when no events come (e.g. after each
    // poll): re-checks the known tables not checked for tick_interval. A
    // change is then usually found before the next packet that hits it, so
    // that packet gets a certain answer; without ticks the first events after
    // a change are stamped in the gap before its detection and are marked
    // stale when the versions disagree.
    void tick() override;

    // Diagnostics queued since the last call, each distinct one once, for
    // the app to print on stderr ("rule text for netns N: why").
    std::vector<std::string> take_diagnostics() override;
    // "rules: lookups N, reads N, changes N, stale N"
    std::string summary() const override;

    const EnricherStats& stats() const { return stats_; }

private:
    struct Version;
    struct TableState;
    using Key = std::tuple<uint32_t, Family, std::string>;

    TableState& state_for(const Key& k);
    void check(const Key& k, TableState& st);
    bool read(const Key& k, TableState& st, Fingerprint seen, uint64_t seen_end);
    void diag(const std::string& key, const std::string& msg);
    // A change was seen and its read put off, and the limiter still says no.
    bool waiting(const Key& k, const TableState& st, uint64_t now) const;

    std::unique_ptr<RulesetSource> src_;
    EnricherOptions opts_;
    ReadLimiter limiter_;
    std::map<Key, std::unique_ptr<TableState>> states_;
    uint64_t use_clock_ = 0;
    OnceDiagnostics diags_;
    EnricherStats stats_;
};

}  // namespace itr
