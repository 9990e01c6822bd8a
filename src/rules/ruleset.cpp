// Rule lookup and rule-text escaping. Pure. (Parsing: save_parser.cpp.)
#include "iptables_trace/rules.hpp"

namespace itr {

std::optional<Family> family_from_pf(uint32_t pf) {
    if (pf == 2) return Family::Ipv4;
    if (pf == 10) return Family::Ipv6;
    return std::nullopt;
}

std::string_view family_name(Family f) { return f == Family::Ipv4 ? "IPv4" : "IPv6"; }

const Chain* Table::find(std::string_view chain) const {
    auto it = index_.find(std::string(chain));
    return it == index_.end() ? nullptr : &chains[it->second];
}

Chain* Table::find(std::string_view chain) {
    auto it = index_.find(std::string(chain));
    return it == index_.end() ? nullptr : &chains[it->second];
}

Chain& Table::add(std::string name, std::optional<std::string> policy) {
    if (Chain* c = find(name)) {
        if (policy) c->policy = std::move(policy);
        return *c;
    }
    index_.emplace(name, chains.size());
    chains.push_back(Chain{std::move(name), std::move(policy), {}});
    return chains.back();
}

bool Table::doubtful(std::string_view chain) const {
    return !doubts.empty() || doubtful_chains.count(std::string(chain)) != 0;
}

const Table* RuleSet::find(std::string_view table) const {
    for (const Table& t : tables)
        if (t.name == table) return &t;
    return nullptr;
}

std::string_view lookup_status_name(LookupStatus s) {
    switch (s) {
    case LookupStatus::Ok: return "ok";
    case LookupStatus::NoTable: return "no such table";
    case LookupStatus::NoChain: return "no such chain";
    case LookupStatus::OutOfRange: return "no rule with that number";
    case LookupStatus::Inconsistent: return "does not fit the ruleset";
    }
    return "?";
}

RuleLookup lookup_rule(const RuleSet& rs, std::string_view table, std::string_view chain, uint32_t rulenum,
                       RuleKind kind) {
    RuleLookup r;
    const Table* t = rs.find(table);
    if (!t) {
        r.status = LookupStatus::NoTable;
        return r;
    }
    r.doubtful = !rs.doubts.empty() || t->doubtful(chain);
    if (t->withheld_chains.count(std::string(chain))) {
        r.status = LookupStatus::OutOfRange;
        r.doubtful = true;
        return r;
    }
    const Chain* c = t->find(chain);
    if (!c) {
        r.status = LookupStatus::NoChain;
        return r;
    }
    const size_t n = c->rules.size();
    if (rulenum >= 1 && rulenum <= n) {
        // A numbered rule. For Policy/Return reports this is the kernel's
        // view of an unconditional plain-verdict rule (see rules.hpp).
        r.status = LookupStatus::Ok;
        r.text = c->rules[rulenum - 1];
        r.kind = RuleKind::Rule;
        return r;
    }
    if (kind == RuleKind::Rule) {
        r.status = LookupStatus::OutOfRange;
        return r;
    }
    // The implicit entry at the chain's end.
    const bool at_end = rulenum == n + 1;
    if (c->builtin()) {
        if (kind == RuleKind::Return) {
            // The kernel says "return" only for user chains.
            r.status = LookupStatus::Inconsistent;
            return r;
        }
        r.text = "policy " + *c->policy;
        r.kind = RuleKind::Policy;
    } else {
        if (kind == RuleKind::Policy) {
            r.status = LookupStatus::Inconsistent;
            return r;
        }
        r.text = "return";
        r.kind = RuleKind::Return;
    }
    r.status = at_end ? LookupStatus::Ok : LookupStatus::Inconsistent;
    if (!at_end && kind == RuleKind::Unknown) {
        r.text.reset();
        r.kind = RuleKind::Unknown;
        r.status = LookupStatus::OutOfRange;
    }
    return r;
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one.
size_t utf8_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    // C1 controls (U+0080..U+009F) would reach the terminal as controls.
    if (cp >= 0x80 && cp <= 0x9f) return 0;
    return len;
}

}  // namespace

std::string escape_rule_text(std::string_view raw) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size());
    for (size_t i = 0; i < raw.size();) {
        unsigned char c = static_cast<unsigned char>(raw[i]);
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        if (c == '\n') {
            out += "\\n";
            ++i;
            continue;
        }
        if (c == '\r') {
            out += "\\r";
            ++i;
            continue;
        }
        if (c == '\t') {
            out += "\\t";
            ++i;
            continue;
        }
        if (c >= 0x80) {
            if (size_t len = utf8_len(raw, i)) {
                out.append(raw.substr(i, len));
                i += len;
                continue;
            }
        }
        out += "\\x";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xf]);
        ++i;
    }
    return out;
}

}  // namespace itr
