// The fields of an nft rule line (nft_fields.hpp).
#include "iptables_trace/nft_fields.hpp"
#include "iptables_trace/names.hpp"
#include "iptables_trace/nft_rules.hpp"
#include "iptables_trace/rules.hpp"

namespace itr::nft {

namespace {

std::string verdict_field(const TraceMessage& m) {
    switch (m.kind) {
    case HitKind::Policy:
        if (!m.policy) return "?";
        return verdict_name(int32_t(*m.policy));
    case HitKind::Return:
        return "RETURN";
    case HitKind::Rule:
        break;
    }
    if (!m.verdict) return "?";
    return nft_verdict_text(m.verdict->code, m.verdict->chain.value_or(""));
}

}  // namespace

NftLineFields nft_line_fields(const TraceRecord& rec) {
    const TraceMessage& m = rec.msg;
    NftLineFields out;
    out.fields.emplace_back("family", family_to_name(m.family));
    out.fields.emplace_back("table", m.table);
    out.fields.emplace_back("chain", m.chain);
    switch (m.kind) {
    case HitKind::Rule: out.fields.emplace_back("rulenum", rec.rulenum ? std::to_string(*rec.rulenum) : "?"); break;
    case HitKind::Return: out.fields.emplace_back("rulenum", "return"); break;
    case HitKind::Policy: out.fields.emplace_back("rulenum", "policy"); break;
    }
    if (m.kind == HitKind::Rule && m.handle) out.fields.emplace_back("handle", std::to_string(*m.handle));
    out.fields.emplace_back("verdict", verdict_field(m));
    if (rec.rule_text) out.rule = escape_rule_text(*rec.rule_text);
    out.rule_stale = rec.rule_text_stale;
    return out;
}

}  // namespace itr::nft
