// Rule numbers and text for nf_tables trace events.
//
//   native tables       the rule as `nft -a -s list ruleset` prints it (comment
//                       kept, counters left out), keyed on its `# handle N`;
//   iptables-nft tables (ip / ip6 tables named filter, nat, mangle, raw,
//                       security): the rule's 1-based position in its chain is
//                       the iptables rule number, and the Nth `-A CHAIN` line of
//                       iptables-nft-save is its text; where iptables-nft-save
//                       refuses the table or does not account for every rule,
//                       the nft text.
// Positions come from the kernel's own rule order (an NFT_MSG_GETRULE dump),
// which also checks the text: everything read from a netns is untrusted,
// and a comment can hold quotes, newlines, `# handle 99` or `-A INPUT ...`.
// A table or chain whose text does not account for exactly the kernel's
// rules gets no text from that source, never a phantom rule.
//
// Pure here; reading a netns and caching per ruleset generation is below
// (NftRulesetSource, NftRuleText).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "iptables_trace/enricher.hpp"
#include "iptables_trace/once_diagnostics.hpp"
#include "iptables_trace/read_limiter.hpp"
#include "iptables_trace/nft_trace.hpp"
#include "iptables_trace/result.hpp"

namespace itr::nft {

// "ip" 2, "ip6" 10, "inet" 1, "arp" 3, "bridge" 7, "netdev" 5 (NFPROTO_*).
std::optional<uint8_t> family_from_name(std::string_view name);
std::string family_to_name(uint8_t family);  // the number as text when unknown

// True for the tables iptables-nft manages: ip / ip6 and one of its names.
bool is_xtables_table(uint8_t family, std::string_view table);

// ---- nft -a list ruleset ----------------------------------------------------------

struct ListedRule {
    uint64_t handle = 0;
    std::string text;  // without the leading tabs and the " # handle N"; may hold newlines
};

struct ListedChain {
    std::string name;
    uint64_t handle = 0;
    std::optional<std::string> hook;    // base chains: "input", ...
    std::optional<std::string> policy;  // base chains: "accept" / "drop"
    std::vector<ListedRule> rules;      // in listing order
    // A rule ran over several lines (a string holding a newline), or the
    // chain's comment did, or its header showed up among its rules: the split
    // of this chain's rules is a guess until checked against the kernel's.
    bool multiline = false;
};

struct ListedTable {
    uint8_t family = 0;
    std::string name;
    uint64_t handle = 0;
    std::vector<ListedChain> chains;
    // A line ending in " # handle N" where no rule can end (inside a set, a
    // comment, between chains): text that fakes listing structure; none of
    // this table's text is used.
    bool tainted = false;
    const ListedChain* find(std::string_view chain) const;
};

struct NftListing {
    std::vector<ListedTable> tables;
    const ListedTable* find(uint8_t family, std::string_view table) const;
};

// Parses `nft -a list ruleset` / `nft -a -s list ruleset` (or `list table`)
// output. Sets, maps, flowtables and stateful objects are skipped; table and
// chain comments are skipped. Errors: no `# handle` on a table or chain line
// (handles were not asked for), an unclosed table, lines outside a table.
Result<NftListing> parse_nft_listing(std::string_view text);

// ---- the kernel's rule order (NFT_MSG_GETRULE dump) ------------------------------

struct KernelRule {
    uint8_t family = 0;
    std::string table;
    std::string chain;
    uint64_t handle = 0;
    std::optional<std::string> comment;  // the rule's comment (user data), as nft prints it
};
// One NFT_MSG_NEWRULE message of a dump: family, table, chain, handle and
// the comment from the rule's user data (type 0, NUL-terminated).
Result<KernelRule> decode_rule_message(std::span<const uint8_t> bytes);

// NFT_MSG_NEWGEN (the answer to NFT_MSG_GETGEN): the ruleset generation.
Result<uint32_t> decode_gen_message(std::span<const uint8_t> bytes);

// Rules of each chain in kernel order, keyed on (family, table, chain).
using ChainKey = std::tuple<uint8_t, std::string, std::string>;
struct KernelRuleRef {
    uint64_t handle = 0;
    std::optional<std::string> comment;
    friend bool operator==(const KernelRuleRef&, const KernelRuleRef&) = default;
};
struct KernelRuleOrder {
    std::map<ChainKey, std::vector<KernelRuleRef>> chains;
    void add(const KernelRule& r) { chains[{r.family, r.table, r.chain}].push_back({r.handle, r.comment}); }
};

// ---- the index the lookups use ---------------------------------------------------

enum class TextSyntax { Nft, Iptables };

struct IndexedRule {
    uint64_t handle = 0;
    uint32_t position = 0;  // 1-based
    std::optional<std::string> text;
    TextSyntax syntax = TextSyntax::Nft;
};

struct IndexedChain {
    std::optional<std::string> policy;  // base chains, as nft prints it ("drop")
    std::vector<IndexedRule> rules;     // kernel order
    std::unordered_map<uint64_t, size_t> by_handle;
};

struct IndexedTable {
    bool xtables = false;  // managed by iptables-nft (by its family and name)
    std::map<std::string, IndexedChain> chains;
};

struct RuleIndex {
    uint32_t generation = 0;
    std::map<std::pair<uint8_t, std::string>, IndexedTable> tables;
    // Why some text is missing ("inet t: the listing does not match the
    // kernel's rules"), for diagnostics.
    std::vector<std::string> notes;
};

// iptables-nft-save output for one family, or the error it gave.
struct SaveText {
    std::optional<std::string> text;
    std::string error;
};

// Builds the index. order: the kernel's rules (authoritative positions and
// the check of the listing); without it positions follow the listing. A
// chain gets nft text only when its table is listed once and not tainted,
// its name is listed once in it, its listed handles are the kernel's in
// order, and each rule listed over several lines is explained by its own
// comment: it ends in `comment "<the kernel's comment>"` and has no other
// line break. Without the kernel's order: only chains with no rule over
// several lines, and no positions for the others.
//
// Why that is enough: every line ending in " # handle N" is a header or ends
// a listed rule (elsewhere it taints the table); a rule's real last line
// ends in `"` or a statement before its handle, never in ` {`, so it cannot
// pass for a header and ends a listed rule of its own; a faked handle line
// can only add a listed rule, which the kernel's sequence does not have; and
// text that spilled into a rule from a chain comment adds a line break the
// rule's comment does not explain.
//
// ipt4 / ipt6: the output of iptables-nft-save / ip6tables-nft-save, used
// for the xtables tables chain by chain when it shows as many rules as the
// kernel has, each with its quotes paired.
RuleIndex build_rule_index(const NftListing& listing, const KernelRuleOrder* order, const SaveText& ipt4,
                           const SaveText& ipt6, uint32_t generation);

enum class AnswerStatus { Ok, NoTable, NoChain, NoRule };

struct RuleAnswer {
    AnswerStatus status = AnswerStatus::NoTable;
    std::optional<uint32_t> rulenum;     // Rule: the position
    std::optional<std::string> text;     // raw: the rule, "policy DROP" / "policy drop", "return"
    TextSyntax syntax = TextSyntax::Nft;
};

// The answer for one trace message: a Rule by its handle, a Return as
// "return", a Policy as "policy <P>" (upper case in xtables tables, as
// iptables prints policies; nft's own spelling elsewhere).
RuleAnswer lookup_rule(const RuleIndex& index, const TraceMessage& msg);

// ---- reading a network namespace, cached per ruleset generation ------------------

// Everything read from one netns at one ruleset generation.
struct NftSnapshot {
    uint32_t generation = 0;
    std::string listing;    // nft -a -s list ruleset
    KernelRuleOrder order;  // NFT_MSG_GETRULE dump
    SaveText ipt4, ipt6;    // only asked for when the listing has xtables tables
};

class NftRulesetSource {
public:
    virtual ~NftRulesetSource() = default;
    virtual uint64_t now_ns() = 0;        // CLOCK_MONOTONIC
    virtual uint32_t own_netns() = 0;
    // NFT_MSG_GETGEN: cheap, one netlink round trip in that netns.
    virtual Result<uint32_t> generation(uint32_t netns) = 0;
    // A snapshot whose parts all belong to one generation (the source checks
    // the generation before and after and reads again when it moved).
    virtual Result<NftSnapshot> read(uint32_t netns) = 0;
};

struct NftSourceOptions {
    std::chrono::milliseconds timeout{5000};
    size_t max_output = size_t{64} << 20;
    // Programs; empty: looked for in /usr/sbin, /sbin, /usr/local/sbin, /usr/bin, /bin.
    std::string nft_program;
    std::string ipt4_save_program;  // iptables-nft-save
    std::string ipt6_save_program;  // ip6tables-nft-save
};
// The real source: setns (itr_rules' NetnsExec), netlink, nft and
// iptables-nft-save run in the netns.
std::unique_ptr<NftRulesetSource> make_system_nft_source(const NftSourceOptions& opts = {});

struct NftRuleTextOptions {
    // A generation check runs when an event is newer than the last one; this
    // spaces checks at least this much (0: every answer is backed by a check
    // made after the event). Answers inside the interval come from the last
    // confirmed generation, unconfirmed.
    std::chrono::nanoseconds min_check_interval{0};
    std::chrono::nanoseconds retry_after{std::chrono::seconds(2)};  // after a failed read
    // A netns whose generation moved is read again (the rule dump, nft,
    // iptables-nft-save) at most once per this interval; events meanwhile
    // get the last text read, marked uncertain (read_limiter.hpp).
    std::chrono::nanoseconds min_reread_interval{std::chrono::milliseconds(500)};
    size_t max_versions = 4;   // generations kept per netns
    size_t max_netns = 256;    // netns kept, least recently used dropped
    size_t max_diagnostics = 32;
};

struct NftRuleTextStats {
    uint64_t lookups = 0, checks = 0, reads = 0, changes = 0, stale = 0, failures = 0;
    uint64_t deferred = 0;  // re-reads put off by min_reread_interval
};

// Fills TraceRecord::rulenum / rule_text / rule_text_stale, per netns and per
// ruleset generation. The honesty rule of the legacy enricher: an event is
// answered from the generation in force when it was stamped; an event in the
// gap between two generations (after the old one was last confirmed, before
// the new one was first seen) is answered without doubt only when the two
// are consecutive (no ruleset in between we did not see) and every one of
// them that knows the rule gives the same answer, else from the newer one
// and marked stale; so are answers while reads fail and rules no generation
// we hold knows.
class NftRuleText {
public:
    explicit NftRuleText(std::unique_ptr<NftRulesetSource> src, NftRuleTextOptions opts = {});
    ~NftRuleText();
    NftRuleText(const NftRuleText&) = delete;
    NftRuleText& operator=(const NftRuleText&) = delete;

    // Reads a netns now (the own one when nullopt), before tracing starts.
    Status prime(std::optional<uint32_t> netns = std::nullopt);
    // rec from the netns `netns` (the listener's), stamped event_mono_ns
    // (0: now). rule_text is raw (escape it for a line).
    void lookup(TraceRecord& rec, uint32_t netns, uint64_t event_mono_ns);
    std::vector<std::string> take_diagnostics();
    const NftRuleTextStats& stats() const { return stats_; }

private:
    struct Version {
        uint32_t generation = 0;
        std::shared_ptr<const RuleIndex> index;
        uint64_t first_seen = 0;
        uint64_t last_confirmed = 0;
    };
    struct NetnsState {
        std::deque<Version> versions;  // oldest first
        bool trimmed = false;
        bool failing = false;
        // A new generation was seen and its read put off: the newest version
        // is no longer the one in force.
        bool behind = false;
        uint64_t last_check = 0;
        uint64_t retry_at = 0;
        uint64_t last_use = 0;
    };
    NetnsState& state_for(uint32_t netns);
    void check(uint32_t netns, NetnsState& st);

    std::unique_ptr<NftRulesetSource> src_;
    NftRuleTextOptions opts_;
    ReadLimiter limiter_;
    std::map<uint32_t, NetnsState> states_;
    uint64_t use_clock_ = 0;
    OnceDiagnostics diags_;
    NftRuleTextStats stats_;
};

// The nf_tables source of rule text for the pipeline: fills rulenum (the
// position, 0 when unknown), rule_text (escape_rule_text'ed, one line) and
// rule_text_stale of EventKind::NftRule events through NftRuleText, in the
// netns the event names (the listener's; the own one when absent). Other
// kinds are left alone. Summary: "nft rules: lookups N, reads N, changes N,
// stale N".
std::unique_ptr<RuleTextEnricher> make_nft_enricher(std::unique_ptr<NftRulesetSource> src,
                                                    NftRuleTextOptions opts = {});

}  // namespace itr::nft
