// iptables-save parsing. Pure. The text is written in part by whoever owns
// the network namespace (see rules.hpp): where a rule ends is decided with
// the quoting rules of xtables' save_string, and every place where that
// decision could be faked is recorded as a doubt rather than trusted.
#include <charconv>

#include "iptables_trace/rules.hpp"

namespace itr {
namespace {

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool parse_u64(std::string_view s, uint64_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

// "[12:345]" -> true. Only checks the shape; the values are not kept.
bool is_counters(std::string_view s) {
    if (s.size() < 5 || s.front() != '[' || s.back() != ']') return false;
    s = s.substr(1, s.size() - 2);
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    uint64_t a = 0, b = 0;
    return parse_u64(s.substr(0, colon), a) && parse_u64(s.substr(colon + 1), b);
}

Error parse_error(size_t lineno, std::string_view why) {
    return Error{"iptables-save output, line " + std::to_string(lineno) + ": " + std::string(why), ""};
}

// The line that starts at pos, without its '\n', trimmed at the right.
std::string_view line_at(std::string_view text, size_t pos) {
    const size_t nl = text.find('\n', pos);
    return trim_right(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
}

// "[12:345] -A ..." (iptables-save -c) -> "-A ..."; other lines unchanged.
std::string_view strip_counters(std::string_view line) {
    if (line.empty() || line.front() != '[') return line;
    const size_t close = line.find(']');
    if (close != std::string_view::npos && is_counters(line.substr(0, close + 1)) &&
        line.substr(close + 1).starts_with(" -A"))
        return line.substr(close + 2);
    return line;
}

bool is_rule_line(std::string_view line) { return line.starts_with("-A ") || line == "-A"; }

// A line iptables-save prints as one of its own: a rule, chain, table,
// COMMIT or comment line. Text continuing a rule never looks like that
// unless a string in the rule was made to.
bool looks_like_own_line(std::string_view line) {
    line = strip_counters(line);
    return is_rule_line(line) || line.starts_with(':') || line.starts_with('*') || line.starts_with('#') ||
           line == "COMMIT";
}

std::string_view chain_of_rule_line(std::string_view line) {
    line = strip_counters(line);
    if (!is_rule_line(line) || line.size() < 3) return {};
    line.remove_prefix(3);
    return line.substr(0, line.find(' '));
}

struct RuleExtent {
    size_t end = 0;  // offset of the '\n' that ends the rule, or the text's size
    // Lines inside a quoted argument that look like lines of their own.
    std::vector<std::string_view> quoted_own_lines;
    bool unclosed = false;  // a quote still open at the end of the text
};

// Where the rule whose arguments start at `from` ends. save_string opens a
// quote only at the start of an argument and escapes '"' and '\' inside, so
// a newline inside quotes belongs to the argument; outside quotes the rule
// ends before a blank line, the end of the text or a line that looks like
// one of iptables-save's own (anything else was a raw newline in a string
// printed without quotes, such as an interface name).
RuleExtent rule_extent(std::string_view text, size_t from, bool use_quotes) {
    RuleExtent r;
    bool quoted = false;
    for (size_t i = from; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            const bool more = i + 1 < text.size();
            const std::string_view next = more ? line_at(text, i + 1) : std::string_view{};
            if (quoted) {
                if (more && looks_like_own_line(next)) r.quoted_own_lines.push_back(next);
                continue;
            }
            if (!more || next.empty() || looks_like_own_line(next)) {
                r.end = i;
                return r;
            }
            continue;
        }
        if (quoted) {
            if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') ++i;
            else if (c == '"') quoted = false;
            continue;
        }
        if (use_quotes && c == '"' && (i == from || text[i - 1] == ' ')) quoted = true;
    }
    r.unclosed = quoted;
    r.end = text.size();
    return r;
}

// The rule's text: its lines trimmed at the right, joined with '\n'.
std::string rule_text(std::string_view raw) {
    std::string out;
    size_t pos = 0;
    for (;;) {
        const size_t nl = raw.find('\n', pos);
        out.append(trim_right(raw.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos)));
        if (nl == std::string_view::npos) break;
        out.push_back('\n');
        pos = nl + 1;
    }
    return out;
}

}  // namespace

Result<RuleSet> parse_iptables_save(std::string_view text) {
    RuleSet rs;
    Table* cur = nullptr;
    bool cur_has_rules = false;
    size_t lineno = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        ++lineno;
        const size_t nl = text.find('\n', pos);
        const size_t line_end = nl == std::string_view::npos ? text.size() : nl;
        const std::string_view line = trim_right(text.substr(pos, line_end - pos));
        const std::string_view rule = strip_counters(line);

        if (is_rule_line(rule)) {
            if (!cur) return parse_error(lineno, "rule outside a table");
            const std::string_view chain = chain_of_rule_line(rule);
            if (chain.empty()) return parse_error(lineno, "rule without a chain name");
            const size_t rule_start = size_t(rule.data() - text.data());
            // Quotes are looked for in the arguments only: the chain name is
            // printed raw.
            const size_t args = std::min(rule_start + 3 + chain.size() + 1, line_end);
            RuleExtent ext = rule_extent(text, args, true);
            if (ext.unclosed) {
                // save_string always closes its quotes: this one was a raw
                // '"' in some name, and the rules after it are not inside it.
                cur->doubts.push_back("a quote that never closes in chain " + std::string(chain));
                ext = rule_extent(text, args, false);
            }
            for (std::string_view own : ext.quoted_own_lines) {
                // Either a string holding that line, or a stray raw quote
                // that swallowed a real one: both chains are in question.
                const std::string_view other = chain_of_rule_line(own);
                if (!other.empty()) {
                    cur->doubtful_chains.emplace(chain);
                    cur->doubtful_chains.emplace(other);
                } else {
                    cur->doubts.push_back("a quoted argument in chain " + std::string(chain) +
                                          " holds a line like iptables-save's own");
                }
            }
            Chain* c = cur->find(chain);
            if (!c) {
                cur->doubts.push_back("a rule for the undeclared chain " + std::string(chain));
                c = &cur->add(std::string(chain), std::nullopt);
            }
            c->rules.push_back(rule_text(text.substr(rule_start, ext.end - rule_start)));
            cur_has_rules = true;
            for (size_t i = line_end; i < ext.end; ++i) lineno += text[i] == '\n';
            pos = ext.end + 1;
            continue;
        }
        pos = line_end + 1;
        if (line.empty()) continue;
        if (line.front() == '#') {
            // iptables-save comments only outside tables; inside one, such a
            // line can only be a string's raw newline hiding the rest of a rule.
            if (cur) cur->doubts.push_back("a '#' line inside the table");
            continue;
        }
        if (line.front() == '*') {
            if (line.size() == 1) return parse_error(lineno, "table line without a name");
            if (cur) cur->doubts.push_back("table " + std::string(line.substr(1)) + " opened inside it");
            const std::string name(line.substr(1));
            if (rs.find(name)) rs.doubts.push_back("table " + name + " shown twice");
            rs.tables.push_back(Table{});
            rs.tables.back().name = name;
            cur = &rs.tables.back();
            cur_has_rules = false;
            continue;
        }
        if (line == "COMMIT") {
            if (!cur) return parse_error(lineno, "COMMIT outside a table");
            cur = nullptr;
            continue;
        }
        if (line.front() == ':') {
            if (!cur) return parse_error(lineno, "chain outside a table");
            std::string_view rest = line.substr(1);
            size_t sp = rest.find(' ');
            if (sp == std::string_view::npos || sp == 0) return parse_error(lineno, "malformed chain line");
            std::string name(rest.substr(0, sp));
            rest = rest.substr(sp + 1);
            sp = rest.find(' ');
            std::string_view policy = rest.substr(0, sp);
            if (policy.empty()) return parse_error(lineno, "chain line without a policy");
            if (sp != std::string_view::npos) {
                std::string_view counters = rest.substr(sp + 1);
                if (!is_counters(counters)) return parse_error(lineno, "malformed chain counters");
            }
            // iptables-save declares every chain once, before the first rule.
            if (cur_has_rules) cur->doubts.push_back("chain " + name + " declared after rules");
            if (cur->find(name)) {
                cur->doubts.push_back("chain " + name + " declared twice");
                continue;
            }
            std::optional<std::string> pol;
            if (policy != "-") pol = std::string(policy);
            cur->add(std::move(name), std::move(pol));
            continue;
        }
        return parse_error(lineno, "unexpected line");
    }
    if (cur) return parse_error(lineno, "table " + cur->name + " without COMMIT");
    return rs;
}

}  // namespace itr
