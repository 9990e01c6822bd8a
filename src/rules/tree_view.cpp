// The tree view: one block per packet walk through one hook (tree_view.hpp
// has the rules). Lives in itr_rules because it marks decisions with the
// FateTracker, which does.
#include "iptables_trace/tree_view.hpp"

#include <algorithm>
#include <array>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "iptables_trace/duration.hpp"
#include "iptables_trace/format.hpp"
#include "iptables_trace/names.hpp"

namespace itr {

bool want_colour(bool is_tty, const char* no_color_env) {
    return is_tty && (no_color_env == nullptr || no_color_env[0] == '\0');
}

namespace {

constexpr uint32_t kNfprotoInet = 1, kNfprotoIpv4 = 2, kNfprotoIpv6 = 10;
constexpr uint32_t kHookUnknown = UINT32_MAX;  // an nf_tables chain whose hook the backend could not tell
constexpr std::size_t kMaxCpu = 4096;    // CPU numbers above it skip the per-CPU rule
constexpr std::size_t kSpareBlocks = 16;  // printed blocks kept for reuse
constexpr std::size_t kSpareSections = 64;  // and their table calls

// NF_DROP, NF_STOLEN, NF_QUEUE, NF_STOP: the hook's walk ends with them.
bool ends_walk(uint32_t raw) {
    const uint32_t v = raw & 0xff;
    return v == 0 || v == 2 || v == 3 || v == 5;
}

// 4 / 6 for the IP families (xtables and inet / ip / ip6 chains share a
// hook), 100 + the family for the others.
uint32_t walk_family(const TraceEvent& ev) {
    switch (ev.pf) {
    case kNfprotoIpv4: return 4;
    case kNfprotoIpv6: return 6;
    case kNfprotoInet: return ev.pkt.ip_version;
    default: return 100 + ev.pf;
    }
}

// Which packet: the skb when known, else what the packet says of itself.
struct PacketId {
    uint64_t skb = 0;
    uint32_t netns = 0;
    uint16_t ip_len = 0, sport = 0, dport = 0, icmp_id = 0, icmp_seq = 0;
    uint8_t version = 0, proto = 0, tcp_flags = 0, icmp_type = 0, icmp_code = 0;
    bool has_ports = false, has_icmp = false, has_netns = false;
    std::array<uint8_t, 16> saddr{}, daddr{};
    bool operator==(const PacketId&) const = default;
};

PacketId packet_id(const Packet& p) {
    PacketId id;
    if (p.skb) {
        id.skb = p.skb;
        return id;
    }
    id.has_netns = p.netns.has_value();
    id.netns = p.netns.value_or(0);
    id.version = p.ip_version;
    id.proto = p.l4proto;
    id.ip_len = p.ip_len;
    id.saddr = p.saddr;
    id.daddr = p.daddr;
    id.has_ports = p.sport.has_value() && p.dport.has_value();
    id.sport = p.sport.value_or(0);
    id.dport = p.dport.value_or(0);
    id.tcp_flags = p.tcp_flags;
    id.has_icmp = p.has_icmp;
    id.icmp_type = p.icmp_type;
    id.icmp_code = p.icmp_code;
    id.icmp_id = p.icmp_id;
    id.icmp_seq = p.icmp_seq;
    return id;
}

struct WalkKey {
    PacketId id;
    uint32_t family = 0;
    uint32_t hook = 0;
    bool operator==(const WalkKey&) const = default;
};

void mix(std::size_t& h, uint64_t v) {
    h ^= static_cast<std::size_t>(v * 0x9e3779b97f4a7c15ull) + 0x7f4a7c15u + (h << 6) + (h >> 2);
}

struct PacketIdHash {
    std::size_t operator()(const PacketId& id) const noexcept {
        std::size_t h = 0;
        mix(h, id.skb);
        if (id.skb) return h;
        mix(h, id.netns);
        mix(h, uint64_t{id.ip_len} << 32 | uint64_t{id.sport} << 16 | id.dport);
        mix(h, uint64_t{id.icmp_id} << 16 | id.icmp_seq);
        mix(h, uint64_t{id.version} << 32 | uint64_t{id.proto} << 24 | uint64_t{id.tcp_flags} << 16 |
                   uint64_t{id.icmp_type} << 8 | id.icmp_code);
        for (std::size_t i = 0; i < 16; i += 8) {
            uint64_t s = 0, d = 0;
            for (std::size_t k = 0; k < 8; ++k) {
                s = s << 8 | id.saddr[i + k];
                d = d << 8 | id.daddr[i + k];
            }
            mix(h, s);
            mix(h, d);
        }
        return h;
    }
};

struct WalkKeyHash {
    std::size_t operator()(const WalkKey& k) const noexcept {
        std::size_t h = PacketIdHash{}(k.id);
        mix(h, uint64_t{k.family} << 32 | k.hook);
        return h;
    }
};

// One printed line of a table call: a chain entered, or an entry of the
// Rule events (a rule whose target ran, a return, a policy).
struct Line {
    bool chain = false;
    bool mark = false;  // the deciding entry of the call
    bool stale = false;
    bool has_text = false;
    RuleKind kind = RuleKind::Unknown;
    uint32_t level = 0;  // jump depth inside the table call
    uint32_t rulenum = 0;
    std::string name;  // the chain (of an entry: the one it is in)
    std::string text;
};

// One table call (xtables) or one nf_tables base chain call.
struct Section {
    bool nft = false;
    bool nft_event = false;  // nft: the base chain's Nft (verdict) event was seen
    bool returned = false;   // its Table / Nft event was seen
    bool undecided = false;  // returned, and FateTracker saw no Rule event of it
    uint32_t pf = 0;
    std::string table;
    std::string chain;  // nft: the base chain
    std::optional<uint32_t> verdict;
    std::optional<uint64_t> cost_ns;
    uint32_t last_builtin = 0;  // last rule number seen in the hook's own chain
    std::vector<std::string> stack;  // chains entered, outermost first
    std::vector<Line> lines;
    std::string statement;  // when the call ended the walk: what decided it
};

struct Block {
    WalkKey key;
    Packet pkt;  // of the first event
    uint64_t first_ns = 0;
    uint64_t touched_ns = 0;  // the view's clock at the walk's last event
    uint32_t pf = 0, hook = 0, depth = 0;
    std::optional<uint32_t> cpu;
    std::string in_dev, out_dev;  // the hook's devices, from Rule events
    std::vector<Section> sections;
    uint32_t unreturned = 0;  // sections whose call has not returned
    std::size_t lines = 0;
    uint64_t hidden = 0;  // Rule events beyond max_lines
    uint64_t lost = 0;
    bool early = false;
    bool listed = false;  // in done_on_cpu (all calls returned, CPU known)
};

using BlockIt = std::list<Block>::iterator;

// The hook's own (built-in) chain name for an xtables event.
std::optional<std::string_view> builtin_chain(const TraceEvent& ev) {
    if (ev.pf != kNfprotoIpv4 && ev.pf != kNfprotoIpv6) return std::nullopt;
    return known_hook_name(ev.hook, ev.pf);
}

namespace sgr {
constexpr std::string_view bold = "\x1b[1m", reset = "\x1b[0m", red = "\x1b[31m", green = "\x1b[32m",
                           yellow = "\x1b[33m", cyan = "\x1b[36m", bold_red = "\x1b[1;31m",
                           bold_green = "\x1b[1;32m", bold_yellow = "\x1b[1;33m";
}

}  // namespace

struct TreeView::Impl {
    std::ostream& out;
    TreeOptions opts;
    FateTracker fates;
    std::list<Block> open;  // oldest first
    std::list<Block> spare;
    std::vector<Section> spare_sections;
    std::unordered_map<WalkKey, BlockIt, WalkKeyHash> walks;
    std::unordered_map<PacketId, BlockIt, PacketIdHash> by_packet;  // a packet's latest block
    std::vector<std::vector<BlockIt>> done_on_cpu;
    uint64_t clock = 0;  // latest of the event stamps and tick() times seen
    std::optional<uint64_t> first_ns;
    uint64_t early = 0;
    std::string buf;

    Impl(std::ostream& o, TreeOptions t) : out(o), opts(t) {
        if (opts.max_open == 0) opts.max_open = 1;
        buf.reserve(1024);
    }

    // ---- grouping ------------------------------------------------------

    void event(const TraceEvent& ev) {
        clock = std::max(clock, ev.mono_ns);
        if (!first_ns) first_ns = ev.mono_ns;
        const std::optional<Fate> fate = fates.consume(ev);
        const WalkKey key{packet_id(ev.pkt), walk_family(ev), ev.hook_unknown ? kHookUnknown : ev.hook};

        if (ev.pkt.cpu) close_done_on_cpu(*ev.pkt.cpu, ev.depth, key);
        if (auto p = by_packet.find(key.id); p != by_packet.end() && !(p->second->key == key)) emit(p->second);

        BlockIt b;
        if (auto w = walks.find(key); w != walks.end() && !starts_again(*w->second, ev)) {
            b = w->second;
        } else {
            if (w != walks.end()) emit(w->second);
            b = open_block(key, ev);
        }
        switch (ev.kind) {
        case EventKind::Rule: add_rule(*b, ev); break;
        case EventKind::Table: add_table(*b, ev, fate); break;
        case EventKind::Nft: add_nft(*b, ev); break;
        case EventKind::NftRule: add_nft_rule(*b, ev); break;
        }
        b->touched_ns = clock;

        const bool all_returned = b->unreturned == 0;
        const Section& last = b->sections.back();
        if (all_returned && last.verdict && ends_walk(*last.verdict)) {
            emit(b);
            return;
        }
        if (all_returned && b->cpu && !b->listed && *b->cpu < kMaxCpu) {
            if (done_on_cpu.size() <= *b->cpu) done_on_cpu.resize(*b->cpu + 1);
            done_on_cpu[*b->cpu].push_back(b);
            b->listed = true;
        } else if (!all_returned && b->listed) {
            unlist(b);
        }
    }

    // A CPU runs one hook walk at a time: an event of another walk at the
    // same or a lower nesting depth means the finished walks at that depth
    // and deeper are over.
    void close_done_on_cpu(uint32_t cpu, uint32_t depth, const WalkKey& key) {
        if (cpu >= done_on_cpu.size()) return;
        auto& v = done_on_cpu[cpu];
        for (std::size_t i = 0; i < v.size();) {
            if (!(v[i]->key == key) && v[i]->depth >= depth)
                emit(v[i]);  // removes v[i]
            else
                ++i;
        }
    }

    // The same key walking a table (or nft chain) it has already walked, or
    // its hook's own chain starting over: another packet (a reused skb, or
    // the same identity), so a new block.
    bool starts_again(const Block& b, const TraceEvent& ev) const {
        if (ev.kind == EventKind::Nft) {
            return std::any_of(b.sections.begin(), b.sections.end(), [&](const Section& s) {
                return s.nft && s.nft_event && s.pf == ev.pf && s.table == ev.table && s.chain == ev.chain;
            });
        }
        if (ev.kind == EventKind::NftRule) {
            // A base chain call that has ended (policy, terminal verdict, or
            // its Nft event) does not take more rule events: another packet.
            const std::string& base = nft_base(ev);
            return std::any_of(b.sections.begin(), b.sections.end(), [&](const Section& s) {
                return s.nft && s.returned && s.pf == ev.pf && s.table == ev.table && s.chain == base;
            });
        }
        const Section* same = nullptr;
        for (auto s = b.sections.rbegin(); s != b.sections.rend(); ++s)
            if (!s->nft && s->table == ev.table) {
                same = &*s;
                break;
            }
        if (!same) return false;
        if (same != &b.sections.back() || same->returned) return true;
        if (ev.kind == EventKind::Table) return false;  // it returns now
        const auto own = builtin_chain(ev);
        return own && ev.chain == *own && ev.rulenum <= same->last_builtin;
    }

    BlockIt open_block(const WalkKey& key, const TraceEvent& ev) {
        if (open.size() >= opts.max_open) {
            const BlockIt oldest = open.begin();
            oldest->early = true;
            ++early;
            emit(oldest);
        }
        BlockIt b;
        if (!spare.empty()) {
            b = spare.begin();
            open.splice(open.end(), spare, b);
        } else {
            b = open.emplace(open.end());
        }
        b->key = key;
        b->pkt = ev.pkt;
        b->first_ns = ev.mono_ns;
        b->pf = ev.pf;
        b->hook = key.hook;
        b->depth = ev.depth;
        b->cpu = ev.pkt.cpu;
        walks[key] = b;
        by_packet[key.id] = b;
        return b;
    }

    void add_rule(Block& b, const TraceEvent& ev) {
        if (b.in_dev.empty() && b.out_dev.empty()) {
            b.in_dev = ev.in_dev;
            b.out_dev = ev.out_dev;
        }
        Section* s = b.sections.empty() ? nullptr : &b.sections.back();
        if (!s || s->nft || s->returned || s->table != ev.table) {
            s = &new_section(b);
            s->pf = ev.pf;
            s->table = ev.table;
            ++b.unreturned;
        }
        if (const auto own = builtin_chain(ev); own && ev.chain == *own) s->last_builtin = ev.rulenum;
        add_entry(b, *s, ev);
    }

    // One entry (rule, return, policy) of a call, under its chain; the chain
    // opens one level deeper when it is not on the call's stack.
    Line* add_entry(Block& b, Section& sec, const TraceEvent& ev) {
        Section* s = &sec;
        if (b.lines >= opts.max_lines) {
            ++b.hidden;
            return nullptr;
        }
        auto& stack = s->stack;
        const auto at = std::find(stack.begin(), stack.end(), ev.chain);
        if (at == stack.end()) {  // a jump from the entry before (or the first chain)
            stack.push_back(ev.chain);
            Line& c = s->lines.emplace_back();
            c.chain = true;
            c.level = static_cast<uint32_t>(stack.size() - 1);
            c.name = ev.chain;
            ++b.lines;
        } else {  // back in a chain lower on the stack
            stack.erase(at + 1, stack.end());
        }
        Line& l = s->lines.emplace_back();
        l.level = static_cast<uint32_t>(stack.size());
        l.kind = ev.rule_kind;
        l.rulenum = ev.rulenum;
        l.name = ev.chain;
        l.has_text = ev.rule_text.has_value();
        if (l.has_text) l.text = *ev.rule_text;
        l.stale = ev.rule_text_stale;
        ++b.lines;
        if (ev.rule_kind == RuleKind::Return && stack.size() > 1) stack.pop_back();
        return &l;
    }

    static const std::string& nft_base(const TraceEvent& ev) {
        return ev.base_chain.empty() ? ev.chain : ev.base_chain;
    }

    // nf_tables trace events of one base chain call: entries under an
    // "nft <family> <table>/<base chain>" section. The call ends with its
    // policy or a terminal verdict (the netlink backend has no Nft event:
    // that verdict is the section's), or with the Nft event.
    void add_nft_rule(Block& b, const TraceEvent& ev) {
        if (b.in_dev.empty() && b.out_dev.empty()) {
            b.in_dev = ev.in_dev;
            b.out_dev = ev.out_dev;
        }
        const std::string& base = nft_base(ev);
        Section* s = b.sections.empty() ? nullptr : &b.sections.back();
        if (!s || !s->nft || s->returned || s->pf != ev.pf || s->table != ev.table || s->chain != base) {
            s = &new_section(b);
            s->nft = true;
            s->pf = ev.pf;
            s->table = ev.table;
            s->chain = base;
            ++b.unreturned;
        }
        Line* l = add_entry(b, *s, ev);
        const bool terminal = ev.nft_verdict_known && ev.nft_verdict >= 0 &&
                              (ev.rule_kind == RuleKind::Policy || ev.rule_kind == RuleKind::Rule);
        if (!terminal) return;
        if (l) l->mark = true;
        s->returned = true;
        --b.unreturned;
        s->verdict = static_cast<uint32_t>(ev.nft_verdict);
        if (ends_walk(*s->verdict)) s->statement = nft_statement(*s, l);
    }

    // "DROP by nft ip filter/BLOCK rule 1: -A BLOCK ...", "... policy drop".
    static std::string nft_statement(const Section& s, const Line* l) {
        std::string st = verdict_name(*s.verdict);
        st += " by nft ";
        st += nft_family_name(s.pf);
        st += ' ';
        append_sanitized(st, s.table);
        st += '/';
        append_sanitized(st, l ? l->name : s.chain);
        if (!l) return st;
        if (l->kind == RuleKind::Rule) {
            st += " rule ";
            if (l->rulenum)
                append_uint(st, l->rulenum);
            else
                st += '?';
            if (l->has_text) {
                st += l->stale ? " (ruleset changed, text may be stale): " : ": ";
                st += l->text;
            }
        } else if (l->has_text) {
            st += ' ';
            st += l->text;
        }
        return st;
    }

    void add_table(Block& b, const TraceEvent& ev, const std::optional<Fate>& fate) {
        Section* s = b.sections.empty() ? nullptr : &b.sections.back();
        if (s && !s->nft && !s->returned && s->table == ev.table) {
            --b.unreturned;
        } else {  // no Rule event of this call (or they went to another block)
            s = &new_section(b);
            s->pf = ev.pf;
            s->table = ev.table;
        }
        s->returned = true;
        s->verdict = ev.verdict;
        s->cost_ns = ev.cost_ns;
        if (!fate) return;
        if (!fate->decided) {
            s->undecided = true;
        } else {
            for (auto l = s->lines.rbegin(); l != s->lines.rend(); ++l)
                if (!l->chain && l->rulenum == fate->rulenum && l->kind == fate->rule_kind && l->name == fate->chain) {
                    l->mark = true;
                    break;
                }
        }
        if (s->verdict && ends_walk(*s->verdict)) s->statement = format_fate(*fate);
    }

    void add_nft(Block& b, const TraceEvent& ev) {
        if (Section* last = b.sections.empty() ? nullptr : &b.sections.back();
            last && last->nft && !last->nft_event && last->pf == ev.pf && last->table == ev.table &&
            last->chain == ev.chain) {
            // The verdict of the call whose rule events came first.
            if (!last->returned) --b.unreturned;
            last->returned = last->nft_event = true;
            last->verdict = ev.verdict;
            last->cost_ns = ev.cost_ns;
            return;
        }
        Section& s = new_section(b);
        s.nft = true;
        s.nft_event = true;
        s.returned = true;
        s.pf = ev.pf;
        s.table = ev.table;
        s.chain = ev.chain;
        s.verdict = ev.verdict;
        s.cost_ns = ev.cost_ns;
        if (s.verdict && ends_walk(*s.verdict)) {
            s.statement = verdict_name(*s.verdict);
            s.statement += " by nft ";
            s.statement += nft_family_name(s.pf);
            s.statement += ' ';
            append_sanitized(s.statement, s.table);
            s.statement += '/';
            append_sanitized(s.statement, s.chain);
        }
    }

    // A section for b, reusing the storage of a printed one.
    Section& new_section(Block& b) {
        if (spare_sections.empty()) return b.sections.emplace_back();
        Section& s = b.sections.emplace_back(std::move(spare_sections.back()));
        spare_sections.pop_back();
        s.nft = s.nft_event = s.returned = s.undecided = false;
        s.verdict.reset();
        s.cost_ns.reset();
        s.last_builtin = 0;
        s.stack.clear();
        s.lines.clear();
        s.statement.clear();
        return s;
    }

    void unlist(BlockIt b) {
        auto& v = done_on_cpu[*b->cpu];
        v.erase(std::find(v.begin(), v.end(), b));
        b->listed = false;
    }

    void emit(BlockIt b) {
        buf.clear();
        render(*b, buf);
        out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
        walks.erase(b->key);
        if (auto p = by_packet.find(b->key.id); p != by_packet.end() && p->second == b) by_packet.erase(p);
        if (b->listed) unlist(b);
        for (Section& s : b->sections)
            if (spare_sections.size() < kSpareSections) spare_sections.push_back(std::move(s));
        b->sections.clear();
        b->in_dev.clear();
        b->out_dev.clear();
        b->unreturned = 0;
        b->lines = 0;
        b->hidden = b->lost = 0;
        b->early = false;
        if (spare.size() < kSpareBlocks)
            spare.splice(spare.begin(), open, b);
        else
            open.erase(b);
    }

    void tick(uint64_t now) {
        clock = std::max(clock, now);
        for (auto b = open.begin(); b != open.end();) {
            const auto next = std::next(b);
            if (now >= b->touched_ns && now - b->touched_ns >= opts.delay_ns) emit(b);
            b = next;
        }
    }

    void lost(uint64_t count, int cpu) {
        for (auto& b : open)
            if (cpu < 0 || !b.cpu || *b.cpu == static_cast<uint32_t>(cpu)) b.lost += count;
    }

    // ---- text ----------------------------------------------------------

    void paint(std::string& o, std::string_view code) const {
        if (opts.colour) o += code;
    }

    static std::string_view verdict_colour(uint32_t raw, bool bold) {
        switch (raw & 0xff) {
        case 0: return bold ? sgr::bold_red : sgr::red;
        case 1: return bold ? sgr::bold_green : sgr::green;
        default: return bold ? sgr::bold_yellow : sgr::yellow;
        }
    }

    static void append_verdict(std::string& o, uint32_t raw) {
        if (auto n = known_verdict_name(raw))
            o += *n;
        else
            o += verdict_name(raw);
    }

    void append_time(std::string& o, uint64_t mono_ns) const {
        if (opts.sink.time_mode == TimeMode::SinceFirst) {
            append_since(o, mono_ns, first_ns.value_or(mono_ns));
            return;
        }
        append_hms(o, local_seconds(mono_ns, opts.sink.realtime_offset_ns, opts.sink.utc_offset_s));
        const int64_t wall = static_cast<int64_t>(mono_ns) + opts.sink.realtime_offset_ns;
        const int64_t sub = (wall % 1'000'000'000 + 1'000'000'000) % 1'000'000'000;
        fmt::format_to(std::back_inserter(o), ".{:06}", sub / 1000);
    }

    void render_header(const Block& b, std::string& o) const {
        const Packet& p = b.pkt;
        paint(o, sgr::bold);
        append_time(o, b.first_ns);
        o += ' ';
        if (b.hook == kHookUnknown)
            o += "hook?";
        else if (auto n = known_hook_name(b.hook, b.pf))
            o += *n;
        else
            o += hook_name(b.hook, b.pf);
        o += ' ';
        const uint32_t fam = b.key.family;
        o += fam == 4 ? pf_name(kNfprotoIpv4) : fam == 6 ? pf_name(kNfprotoIpv6) : nft_family_name(b.pf);
        o += ' ';
        append_pkt_info(o, p);
        paint(o, sgr::reset);
        // " name=": the value is appended to what it returns.
        auto field = [&o](std::string_view name) -> std::string& {
            o += ' ';
            o += name;
            o += '=';
            return o;
        };
        if (p.ip_version == 4 || p.ip_version == 6) append_uint(field("len"), p.ip_len);
        if (!b.in_dev.empty()) append_sanitized(field("in"), b.in_dev);
        if (!b.out_dev.empty()) append_sanitized(field("out"), b.out_dev);
        if (b.in_dev.empty() && b.out_dev.empty() && !p.ifname.empty()) append_sanitized(field("dev"), p.ifname);
        if (p.dst_mac) append_mac(field("mac"), *p.dst_mac);
        if (p.netns) append_uint(field("netns"), *p.netns);
        if (p.skb) append_hex16(field("skb") += "0x", p.skb);
        if (b.cpu) append_uint(field("cpu"), *b.cpu);
        if (b.depth) append_uint(field("nested"), b.depth);
        o += '\n';
    }

    void render_section(const Section& s, std::string& o) const {
        o += "  ";
        if (s.nft) {
            o += "nft ";
            o += nft_family_name(s.pf);
            o += ' ';
            append_sanitized(o, s.table);
            o += '/';
            append_sanitized(o, s.chain);
        } else {
            append_sanitized(o, s.table);
        }
        o += " -> ";
        if (s.verdict) {
            paint(o, verdict_colour(*s.verdict, false));
            append_verdict(o, *s.verdict);
            paint(o, sgr::reset);
            if (s.cost_ns) {
                o += ' ';
                append_go_duration(o, *s.cost_ns);
            }
            if (s.undecided) o += " (no rule event seen)";
        } else {
            paint(o, sgr::yellow);
            o += s.returned ? "? (verdict unknown)" : "(no verdict seen)";
            paint(o, sgr::reset);
        }
        o += '\n';
        for (const Line& l : s.lines) {
            o.append(4 + 2 * static_cast<std::size_t>(l.level), ' ');
            if (l.chain) {
                paint(o, sgr::cyan);
                append_sanitized(o, l.name);
                paint(o, sgr::reset);
                o += '\n';
                continue;
            }
            render_entry(s, l, o);
            if (l.mark && s.verdict) {
                o += "  ";
                paint(o, verdict_colour(*s.verdict, true));
                o += "<- ";
                append_verdict(o, *s.verdict);
                paint(o, sgr::reset);
            }
            o += '\n';
        }
    }

    // rule 3: -A ... / rule? 3: -A ... (may be stale) / rule 3 / return /
    // policy DROP. A text starting "-A " is a rule whatever the kind says
    // (the kernel reports an unconditional `-j DROP` as the policy).
    void render_entry(const Section& s, const Line& l, std::string& o) const {
        const bool text_is_rule = l.has_text && l.text.starts_with("-A ");
        if (l.kind == RuleKind::Return && !text_is_rule) {
            if (l.has_text)
                append_controls_escaped(o, l.text);
            else
                o += "return";
            return;
        }
        if (l.kind == RuleKind::Policy && !text_is_rule) {
            if (l.has_text) {
                append_controls_escaped(o, l.text);
            } else {
                o += "policy";
                if (s.verdict) {
                    o += ' ';
                    append_verdict(o, *s.verdict);
                }
            }
            return;
        }
        if (l.stale) paint(o, sgr::yellow);
        o += l.stale ? "rule? " : "rule ";
        if (l.rulenum || !s.nft)
            append_uint(o, l.rulenum);
        else
            o += '?';  // an nf_tables rule whose position is unknown
        if (l.stale) paint(o, sgr::reset);
        if (l.has_text) {
            o += ": ";
            append_controls_escaped(o, l.text);
        }
    }

    void note(std::string& o, std::string_view what) const {
        o += "  ";
        paint(o, sgr::yellow);
        o += "! ";
        o += what;
        paint(o, sgr::reset);
        o += '\n';
    }

    void render(const Block& b, std::string& o) const {
        render_header(b, o);
        for (const Section& s : b.sections) render_section(s, o);
        for (const Section& s : b.sections) {
            if (s.statement.empty()) continue;
            o += "  ";
            paint(o, verdict_colour(*s.verdict, true));
            o += "=> ";
            append_controls_escaped(o, s.statement);
            paint(o, sgr::reset);
            o += '\n';
        }
        if (b.hidden)
            note(o, fmt::format("{} further rule events of this walk not shown (more than {} lines)", b.hidden,
                                opts.max_lines));
        if (b.lost) note(o, fmt::format("{} events lost while this walk was open: it may be incomplete", b.lost));
        if (b.early)
            note(o, fmt::format("printed before its walk ended: more than {} walks were open", opts.max_open));
    }
};

TreeView::TreeView(std::ostream& out, TreeOptions opts) : impl_(std::make_unique<Impl>(out, opts)) {}
TreeView::~TreeView() = default;

void TreeView::event(const TraceEvent& ev) { impl_->event(ev); }

void TreeView::lost(uint64_t count, int cpu) {
    lost_ += count;
    impl_->lost(count, cpu);
}

void TreeView::fate(const Fate&, std::string_view) {}

void TreeView::flush() { impl_->out.flush(); }

void TreeView::tick(uint64_t now_mono_ns) { impl_->tick(now_mono_ns); }

void TreeView::finish() {
    while (!impl_->open.empty()) impl_->emit(impl_->open.begin());
    impl_->out.flush();
}

std::size_t TreeView::open_blocks() const { return impl_->open.size(); }

uint64_t TreeView::printed_early() const { return impl_->early; }

}  // namespace itr
