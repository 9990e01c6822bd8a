// nft listing parsing, rule-dump decoding, the rule index and its lookups
// (nft_rules.hpp). Pure.
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <charconv>

#include "attrs.hpp"
#include "iptables_trace/nft_rules.hpp"
#include "iptables_trace/rules.hpp"
#include "iptables_trace/text_lines.hpp"

namespace itr::nft {

namespace {

using namespace detail;

struct FamilyName {
    uint8_t family;
    const char* name;
};
constexpr FamilyName kFamilies[] = {{1, "inet"}, {2, "ip"}, {3, "arp"}, {5, "netdev"}, {7, "bridge"}, {10, "ip6"}};

bool parse_u64(std::string_view s, uint64_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "... # handle 12" at the end of a line: the handle and where the suffix starts.
std::optional<std::pair<uint64_t, size_t>> handle_suffix(std::string_view line) {
    constexpr std::string_view mark = " # handle ";
    size_t at = line.rfind(mark);
    if (at == std::string_view::npos) return std::nullopt;
    uint64_t h = 0;
    if (!parse_u64(line.substr(at + mark.size()), h)) return std::nullopt;
    return std::make_pair(h, at);
}

// A table owned by a process (NFT_TABLE_F_OWNER, e.g. the netlink
// backend's own) is listed "table inet t { # handle 3 progname NAME": the
// header without what follows its handle.
std::string_view without_progname(std::string_view line) {
    constexpr std::string_view mark = " { # handle ";
    const size_t at = line.rfind(mark);
    if (at == std::string_view::npos) return line;
    size_t end = at + mark.size();
    while (end < line.size() && line[end] >= '0' && line[end] <= '9') ++end;
    if (line.substr(end, 10) == " progname ") return line.substr(0, end);
    return line;
}

// "<prefix><name> { # handle N" -> name (quotes around it removed) and N.
std::optional<std::pair<std::string, uint64_t>> block_header(std::string_view line, std::string_view prefix) {
    if (!starts_with(line, prefix)) return std::nullopt;
    auto h = handle_suffix(line);
    if (!h) return std::nullopt;
    std::string_view head = line.substr(prefix.size(), h->second - prefix.size());
    if (head.size() < 2 || head.substr(head.size() - 2) != " {") return std::nullopt;
    head.remove_suffix(2);
    if (head.size() >= 2 && head.front() == '"' && head.back() == '"') head = head.substr(1, head.size() - 2);
    if (head.empty()) return std::nullopt;
    return std::make_pair(std::string(head), h->first);
}

// "\tset NAME { # handle N", "\tct helper NAME {", ...: a table member
// other than a chain, skipped up to its "\t}".
bool opens_member(std::string_view line) {
    if (line.size() < 2 || line[0] != '\t' || line[1] == '\t') return false;
    if (line.back() == '{') return true;
    auto h = handle_suffix(line);
    return h && line.substr(0, h->second).substr(h->second >= 2 ? h->second - 2 : 0) == " {";
}

// The word after `key` up to a space or ';' ("... hook input priority ...").
std::optional<std::string> word_after(std::string_view s, std::string_view key) {
    size_t at = s.find(key);
    if (at == std::string_view::npos) return std::nullopt;
    s.remove_prefix(at + key.size());
    size_t end = s.find_first_of(" ;");
    return std::string(s.substr(0, end));
}

Error listing_error(size_t lineno, const std::string& why) {
    return Error{"nft listing, line " + std::to_string(lineno) + ": " + why, ""};
}

}  // namespace

std::optional<uint8_t> family_from_name(std::string_view name) {
    for (const auto& f : kFamilies)
        if (name == f.name) return f.family;
    return std::nullopt;
}

std::string family_to_name(uint8_t family) {
    for (const auto& f : kFamilies)
        if (family == f.family) return f.name;
    return std::to_string(family);
}

bool is_xtables_table(uint8_t family, std::string_view table) {
    if (family != 2 && family != 10) return false;
    return table == "filter" || table == "nat" || table == "mangle" || table == "raw" || table == "security";
}

const ListedChain* ListedTable::find(std::string_view chain) const {
    for (const auto& c : chains)
        if (c.name == chain) return &c;
    return nullptr;
}

const ListedTable* NftListing::find(uint8_t family, std::string_view table) const {
    for (const auto& t : tables)
        if (t.family == family && t.name == table) return &t;
    return nullptr;
}

// Line by line. nft indents a table's members with one tab and a chain's
// rules with two, and ends each rule with " # handle N" (with -a). A string
// holding a newline (a comment) makes a rule run over several lines: a rule
// is every line up to the next one that ends in a handle. What such a
// string can fake is flagged here (tainted, multiline) and caught by
// build_rule_index against the kernel's order.
Result<NftListing> parse_nft_listing(std::string_view text) {
    enum class State { Top, Table, Block, TableComment, ChainHeader, ChainComment, Rules };
    NftListing out;
    State st = State::Top;
    std::string pending;  // lines of the rule being read
    ListedTable* table = nullptr;
    ListedChain* chain = nullptr;
    LineCursor lines(text);
    std::string_view line;
    while (lines.next(line)) {
        const size_t lineno = lines.lineno();
        switch (st) {
        case State::Top: {
            if (line.empty() || line[0] == '#') break;
            auto h = block_header(without_progname(line), "table ");
            if (!h) {
                if (starts_with(line, "table ")) return listing_error(lineno, "table without a handle (nft -a)");
                return listing_error(lineno, "outside a table");
            }
            size_t sp = h->first.find(' ');
            if (sp == std::string::npos) return listing_error(lineno, "table without a family");
            auto fam = family_from_name(std::string_view(h->first).substr(0, sp));
            if (!fam) return listing_error(lineno, "unknown family " + h->first.substr(0, sp));
            std::string name = h->first.substr(sp + 1);
            if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
            out.tables.push_back(ListedTable{*fam, std::move(name), h->second, {}, false});
            table = &out.tables.back();
            st = State::Table;
            break;
        }
        case State::Table:
            if (line == "}") {
                st = State::Top;
            } else if (auto h = block_header(line, "\tchain ")) {
                table->chains.push_back(ListedChain{h->first, h->second, {}, {}, {}, false});
                chain = &table->chains.back();
                st = State::ChainHeader;
            } else if (opens_member(line)) {
                st = State::Block;  // set, map, flowtable, counter, quota, ...
            } else if (starts_with(line, "\tcomment \"") && (line.size() < 11 || line.back() != '"')) {
                st = State::TableComment;
            } else if (handle_suffix(line)) {
                table->tainted = true;
            }
            break;
        case State::Block:
            if (line == "\t}") st = State::Table;
            else if (handle_suffix(line)) table->tainted = true;
            break;
        case State::TableComment:
        case State::ChainComment:
            if (handle_suffix(line)) table->tainted = true;
            if (!line.empty() && line.back() == '"') st = st == State::TableComment ? State::Table : State::ChainHeader;
            break;
        case State::ChainHeader:
            if (starts_with(line, "\t\tcomment \"") && !handle_suffix(line)) {
                if (line.size() < 12 || line.back() != '"') {
                    st = State::ChainComment;
                    chain->multiline = true;
                }
                break;
            }
            if (starts_with(line, "\t\ttype ") && line.find(" hook ") != std::string_view::npos &&
                !handle_suffix(line)) {
                chain->hook = word_after(line, " hook ");
                chain->policy = word_after(line, " policy ");
                st = State::Rules;
                break;
            }
            st = State::Rules;
            [[fallthrough]];
        case State::Rules: {
            if (pending.empty() && line == "\t}") {
                st = State::Table;
                chain = nullptr;
                break;
            }
            if (pending.empty() && line == "}") return listing_error(lineno, "chain " + chain->name + " not closed");
            // The header's shape among the rules: a comment spilled over.
            if (starts_with(line, "\t\ttype ") && line.find(" hook ") != std::string_view::npos) chain->multiline = true;
            if (!pending.empty()) {
                pending += '\n';
                chain->multiline = true;
            }
            pending.append(line);
            auto h = handle_suffix(line);
            if (!h) break;
            std::string_view rule(pending);
            rule.remove_suffix(line.size() - h->second);
            while (!rule.empty() && rule.front() == '\t') rule.remove_prefix(1);
            chain->rules.push_back(ListedRule{h->first, std::string(rule)});
            pending.clear();
            break;
        }
        }
    }
    if (st != State::Top) return listing_error(lines.lineno(), "the listing ends inside a table");
    return out;
}

// ---------------------------------------------------------------------------

namespace {

// nftables' rule user data: (u8 type, u8 length, value) records; type 0 is
// the comment, NUL-terminated (libnftnl's NFTNL_UDATA_RULE_COMMENT).
std::string user_data_comment(Bytes a, std::optional<std::string>& out) {
    size_t off = 0;
    while (off < a.size()) {
        if (a.size() - off < 2 || a[off + 1] > a.size() - off - 2) return "rule user data truncated";
        const uint8_t type = a[off], len = a[off + 1];
        if (type == 0 && len > 0) {
            Bytes v = a.subspan(off + 2, len);
            const void* nul = std::memchr(v.data(), 0, v.size());
            size_t n = nul ? size_t(static_cast<const uint8_t*>(nul) - v.data()) : v.size();
            out = std::string(reinterpret_cast<const char*>(v.data()), n);
        }
        off += 2 + size_t(len);
    }
    return "";
}

}  // namespace

Result<KernelRule> decode_rule_message(std::span<const uint8_t> bytes) {
    nfgenmsg nfg{};
    Bytes attrs;
    auto err = split_nfnl_message(bytes, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE, "NFT_MSG_NEWRULE", nfg, attrs);
    KernelRule r;
    r.family = nfg.nfgen_family;
    bool have_handle = false;
    if (err.empty()) err = walk_attrs(attrs, [&](uint16_t t, Bytes a) -> std::string {
        switch (t) {
        case NFTA_RULE_TABLE: return get_string(a, "table", r.table);
        case NFTA_RULE_CHAIN: return get_string(a, "chain", r.chain);
        case NFTA_RULE_HANDLE:
            if (auto e = want_size(a, 8, "rule handle"); !e.empty()) return e;
            r.handle = be64(a);
            have_handle = true;
            return "";
        case NFTA_RULE_USERDATA: return user_data_comment(a, r.comment);
        default: return "";  // expressions, position, ...
        }
    });
    if (err.empty() && (r.table.empty() || r.chain.empty() || !have_handle)) err = "table, chain or handle missing";
    if (!err.empty()) return Error{"nft rule message: " + err, ""};
    return r;
}

Result<uint32_t> decode_gen_message(std::span<const uint8_t> bytes) {
    nfgenmsg nfg{};
    Bytes attrs;
    auto err = split_nfnl_message(bytes, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN, "NFT_MSG_NEWGEN", nfg, attrs);
    std::optional<uint32_t> gen;
    if (err.empty()) err = walk_attrs(attrs, [&](uint16_t t, Bytes a) -> std::string {
        if (t != NFTA_GEN_ID) return "";
        if (auto e = want_size(a, 4, "generation"); !e.empty()) return e;
        gen = be32(a);
        return "";
    });
    if (err.empty() && !gen) err = "no generation id";
    if (!err.empty()) return Error{"nft generation message: " + err, ""};
    return *gen;
}

// ---------------------------------------------------------------------------

namespace {

// iptables-save quotes an argument with spaces in "..." and escapes '"' and
// '\' inside it. A rule whose quotes do not pair was cut short by a newline in
// a comment (the rest went to a line of its own).
bool quotes_balanced(std::string_view s) {
    bool in = false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\') ++i;
        else if (s[i] == '"') in = !in;
    }
    return !in;
}

// The listed rules are the kernel's: the same handles in the same order, and
// a rule listed over several lines is its own comment's doing.
bool listing_is_kernels(const ListedChain& c, const std::vector<KernelRuleRef>& kernel) {
    if (c.rules.size() != kernel.size()) return false;
    for (size_t i = 0; i < kernel.size(); ++i) {
        const std::string& text = c.rules[i].text;
        if (c.rules[i].handle != kernel[i].handle) return false;
        const size_t nl = text.find('\n');
        if (nl == std::string::npos) continue;
        if (!kernel[i].comment) return false;
        const std::string tail = "comment \"" + *kernel[i].comment + "\"";
        if (text.size() < tail.size() || text.compare(text.size() - tail.size(), tail.size(), tail) != 0) return false;
        if (nl < text.size() - tail.size()) return false;  // a line break before the comment
    }
    return true;
}

void add_iptables_text(IndexedTable& it, const std::string& table, const RuleSet& rs, const std::string& where,
                       std::vector<std::string>& notes) {
    const Table* st = rs.find(table);
    if (!st) {
        notes.push_back(where + ": not in iptables-nft-save's output (incompatible with iptables-nft): nft text");
        return;
    }
    if (!rs.doubts.empty() || !st->doubts.empty()) {
        const std::string& why = !rs.doubts.empty() ? rs.doubts.front() : st->doubts.front();
        notes.push_back(where + ": iptables-nft-save's text may not split into the kernel's rules (" + why +
                        "): nft text");
        return;
    }
    for (auto& [name, chain] : it.chains) {
        const Chain* sc = st->find(name);
        // Counting alone is not enough: a quoted argument may hold a faked
        // rule line while a stray raw quote swallows a real one.
        bool ok = sc && sc->rules.size() == chain.rules.size() && !st->doubtful(name);
        for (size_t i = 0; ok && i < sc->rules.size(); ++i) ok = quotes_balanced(sc->rules[i]);
        if (!ok) {
            if (!chain.rules.empty())
                notes.push_back(where + "/" + name + ": iptables-nft-save does not show its " +
                                std::to_string(chain.rules.size()) + " rules as they are: nft text");
            continue;
        }
        for (size_t i = 0; i < chain.rules.size(); ++i) {
            chain.rules[i].text = sc->rules[i];
            chain.rules[i].syntax = TextSyntax::Iptables;
        }
    }
}

}  // namespace

RuleIndex build_rule_index(const NftListing& listing, const KernelRuleOrder* order, const SaveText& ipt4,
                           const SaveText& ipt6, uint32_t generation) {
    RuleIndex idx;
    idx.generation = generation;
    std::map<std::pair<uint8_t, std::string>, int> listed;
    for (const auto& t : listing.tables) ++listed[{t.family, t.name}];

    std::optional<RuleSet> saves[2];
    for (int i = 0; i < 2; ++i) {
        const SaveText& s = i == 0 ? ipt4 : ipt6;
        if (!s.text) continue;
        auto rs = parse_iptables_save(*s.text);
        if (rs) saves[i] = std::move(*rs);
        else idx.notes.push_back(std::string(i == 0 ? "iptables" : "ip6tables") + "-nft-save: " + rs.error().what);
    }

    for (const auto& t : listing.tables) {
        const auto key = std::make_pair(t.family, t.name);
        if (idx.tables.count(key)) continue;  // listed twice: the first, without text
        const std::string where = family_to_name(t.family) + " " + t.name;
        if (t.tainted) idx.notes.push_back(where + ": the nft listing has handles where no rule can end: no nft text");
        IndexedTable& it = idx.tables[key];
        it.xtables = is_xtables_table(t.family, t.name);
        std::map<std::string, int> names;
        for (const auto& c : t.chains) ++names[c.name];
        // The listed chain whose text may be used for these kernel handles.
        auto usable = [&](const std::string& chain, const std::vector<KernelRuleRef>* kernel) -> const ListedChain* {
            const ListedChain* lc = t.find(chain);
            bool ok = lc && listed[key] == 1 && !t.tainted && names[chain] == 1;
            if (ok) ok = kernel ? listing_is_kernels(*lc, *kernel) : !lc->multiline;
            if (!ok && ((lc && !lc->rules.empty()) || (kernel && !kernel->empty())))
                idx.notes.push_back(where + "/" + chain +
                                    ": the nft listing does not match the kernel's rules (a string holding a "
                                    "newline?): no nft text");
            return ok ? lc : nullptr;
        };
        for (const auto& c : t.chains) it.chains[c.name].policy = c.policy;
        if (order) {
            for (auto o = order->chains.lower_bound({t.family, t.name, ""}); o != order->chains.end(); ++o) {
                if (std::get<0>(o->first) != t.family || std::get<1>(o->first) != t.name) break;
                const std::string& name = std::get<2>(o->first);
                IndexedChain& ic = it.chains[name];
                const ListedChain* lc = usable(name, &o->second);
                for (size_t i = 0; i < o->second.size(); ++i) {
                    ic.by_handle[o->second[i].handle] = ic.rules.size();
                    ic.rules.push_back(IndexedRule{o->second[i].handle, uint32_t(i + 1),
                                                   lc ? std::optional<std::string>(lc->rules[i].text) : std::nullopt,
                                                   TextSyntax::Nft});
                }
            }
        } else {
            // Without the kernel's order a chain that cannot be trusted gets
            // no positions either: a faked handle would shift them.
            for (auto& [name, ic] : it.chains) {
                const ListedChain* lc = usable(name, nullptr);
                if (!lc) continue;
                for (const auto& r : lc->rules) {
                    if (ic.by_handle.count(r.handle)) continue;
                    ic.by_handle[r.handle] = ic.rules.size();
                    ic.rules.push_back(IndexedRule{r.handle, uint32_t(ic.rules.size() + 1),
                                                   r.text, TextSyntax::Nft});
                }
            }
        }
        if (it.xtables) {
            const int i = t.family == 2 ? 0 : 1;
            const SaveText& s = i == 0 ? ipt4 : ipt6;
            if (saves[i]) add_iptables_text(it, t.name, *saves[i], where, idx.notes);
            else if (!s.error.empty()) idx.notes.push_back(where + ": " + s.error + ": nft text");
        }
    }
    // Chains the kernel has and the listing does not: positions without text.
    if (order) {
        for (const auto& [key, handles] : order->chains) {
            IndexedTable& it = idx.tables[{std::get<0>(key), std::get<1>(key)}];
            it.xtables = is_xtables_table(std::get<0>(key), std::get<1>(key));
            IndexedChain& ic = it.chains[std::get<2>(key)];
            if (!ic.rules.empty() || handles.empty()) continue;
            for (size_t i = 0; i < handles.size(); ++i) {
                ic.by_handle[handles[i].handle] = ic.rules.size();
                ic.rules.push_back(IndexedRule{handles[i].handle, uint32_t(i + 1), std::nullopt, TextSyntax::Nft});
            }
        }
    }
    return idx;
}

RuleAnswer lookup_rule(const RuleIndex& index, const TraceMessage& msg) {
    RuleAnswer a;
    auto t = index.tables.find({msg.family, msg.table});
    if (t == index.tables.end()) return a;
    a.status = AnswerStatus::NoChain;
    auto c = t->second.chains.find(msg.chain);
    if (c == t->second.chains.end()) return a;
    const IndexedChain& chain = c->second;
    switch (msg.kind) {
    case HitKind::Policy: {
        // The kernel says which policy decided; the listing is the fallback.
        std::optional<std::string> p = chain.policy;
        if (msg.policy) p = *msg.policy == 1 ? "accept" : *msg.policy == 0 ? "drop" : std::to_string(*msg.policy);
        if (p && t->second.xtables)
            for (char& ch : *p) ch = char(std::toupper(static_cast<unsigned char>(ch)));
        a.status = AnswerStatus::Ok;
        a.text = "policy " + p.value_or("?");
        a.syntax = t->second.xtables ? TextSyntax::Iptables : TextSyntax::Nft;
        return a;
    }
    case HitKind::Return:
        a.status = AnswerStatus::Ok;
        a.text = "return";
        a.syntax = t->second.xtables ? TextSyntax::Iptables : TextSyntax::Nft;
        return a;
    case HitKind::Rule:
        break;
    }
    a.status = AnswerStatus::NoRule;
    if (!msg.handle) return a;
    auto r = chain.by_handle.find(*msg.handle);
    if (r == chain.by_handle.end()) return a;
    const IndexedRule& rule = chain.rules[r->second];
    a.status = AnswerStatus::Ok;
    a.rulenum = rule.position;
    a.text = rule.text;
    a.syntax = rule.syntax;
    return a;
}

}  // namespace itr::nft
