// The JSON Lines sink; schema in json.hpp.
#include <chrono>

#include <fmt/format.h>

#include "iptables_trace/format.hpp"
#include "iptables_trace/json.hpp"
#include "iptables_trace/names.hpp"
#include "iptables_trace/sink.hpp"

namespace itr {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

void append_rfc3339(std::string& out, int64_t wall_ns) {
    using namespace std::chrono;
    const int64_t sec = floor_div(wall_ns, kNsPerSec);
    const int64_t us = (wall_ns - sec * kNsPerSec) / 1000;
    const int64_t days = floor_div(sec, 86400);
    const int64_t sod = sec - days * 86400;
    const year_month_day ymd{sys_days{std::chrono::days{days}}};
    fmt::format_to(std::back_inserter(out), "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\"", int(ymd.year()),
                   unsigned(ymd.month()), unsigned(ymd.day()), sod / 3600, sod / 60 % 60, sod % 60, us);
}

std::string_view kind_text(EventKind k) {
    switch (k) {
    case EventKind::Rule: return "rule";
    case EventKind::Table: return "table";
    case EventKind::Nft: return "nft";
    case EventKind::NftRule: return "nftrule";
    }
    return "rule";
}

std::string_view rule_kind_text(RuleKind k) {
    switch (k) {
    case RuleKind::Rule: return "rule";
    case RuleKind::Return: return "return";
    case RuleKind::Policy: return "policy";
    case RuleKind::Unknown: break;
    }
    return "unknown";
}

class JsonSink final : public Sink {
public:
    JsonSink(std::ostream& out, const SinkOptions& opts) : out_(out), opts_(opts) { line_.reserve(1024); }

    void event(const TraceEvent& ev) override { write(ev, kind_text(ev.kind), nullptr, {}); }

    // A fate object has the keys of a table event, with chain, rulenum,
    // rule_kind and rule taken from the deciding entry, plus decided,
    // dropped, rules_seen and statement.
    void fate(const Fate& f, std::string_view statement) override {
        TraceEvent ev;
        ev.kind = EventKind::Table;
        ev.mono_ns = f.mono_ns;
        ev.pkt = f.pkt;
        ev.pf = f.pf;
        ev.hook = f.hook;
        ev.table = f.table;
        ev.verdict = f.verdict;
        ev.cost_ns = f.cost_ns;
        if (f.decided) {
            ev.chain = f.chain;
            ev.rulenum = f.rulenum;
            ev.rule_kind = f.rule_kind;
            ev.rule_text = f.rule_text;
            ev.rule_text_stale = f.rule_text_stale;
        }
        write(ev, "fate", &f, statement);
    }

    void write(const TraceEvent& ev, std::string_view kind, const Fate* fate, std::string_view statement) {
        line_.clear();
        const Packet& p = ev.pkt;
        const bool l3 = p.ip_version == 4 || p.ip_version == 6;
        JsonObject o(line_);
        append_rfc3339(o.begin_member("time"), static_cast<int64_t>(ev.mono_ns) + opts_.realtime_offset_ns);
        o.num("mono_ns", ev.mono_ns);
        o.str("kind", kind);
        const bool decided = fate && fate->decided;
        if (p.skb) {
            std::string& s = o.begin_member("skb");
            s += "\"0x";
            append_hex16(s, p.skb);
            s += '"';
        } else
            o.null("skb");
        o.opt_num("netns", p.netns);
        o.opt_num("pid", p.pid);
        o.opt_num("cpu", p.cpu);
        o.str("ifname", p.ifname);
        if (p.dst_mac) {
            std::string& s = o.begin_member("dst_mac");
            s.push_back('"');
            append_mac(s, *p.dst_mac);
            s.push_back('"');
        } else {
            o.null("dst_mac");
        }
        if (l3) {
            o.num("ip_version", p.ip_version);
            o.num("ip_len", p.ip_len);
            if (auto n = l4proto_name(p.l4proto))
                o.str("proto", *n);
            else
                o.null("proto");
            o.num("l4proto", p.l4proto);
            for (auto [k, a] : {std::pair{"saddr", &p.saddr}, std::pair{"daddr", &p.daddr}}) {
                std::string& s = o.begin_member(k);
                s += '"';
                append_ip(s, p.ip_version, *a);  // digits, hex, ':' and '.': no escaping needed
                s += '"';
            }
            o.opt_num("sport", p.sport);
            o.opt_num("dport", p.dport);
        } else {
            for (auto k : {"ip_version", "ip_len", "proto", "l4proto", "saddr", "daddr", "sport", "dport"}) o.null(k);
        }
        if (l3 && p.l4proto == 6 && p.sport) {
            std::string& s = o.begin_member("tcp_flags");
            s.push_back('[');
            bool first = true;
            for (auto n : tcp_flag_names(p.tcp_flags)) {
                if (!first) s.push_back(',');
                first = false;
                append_json_string(s, n);
            }
            s.push_back(']');
        } else {
            o.null("tcp_flags");
        }
        if (l3 && p.has_icmp && (p.l4proto == 1 || p.l4proto == 58)) {
            const bool v6 = p.l4proto == 58;
            const bool echo = v6 ? (p.icmp_type == 128 || p.icmp_type == 129) : (p.icmp_type == 8 || p.icmp_type == 0);
            JsonObject ic(o.begin_member("icmp"));
            ic.num("type", p.icmp_type).num("code", p.icmp_code);
            if (echo)
                ic.num("id", p.icmp_id).num("seq", p.icmp_seq);
            else
                ic.null("id").null("seq");
            ic.end();
        } else {
            o.null("icmp");
        }
        if (auto n = known_pf_name(ev.pf))
            o.str("pf", *n);
        else
            o.str("pf", pf_name(ev.pf));
        if (auto n = known_nft_family_name(ev.pf))
            o.str("family", *n);
        else
            o.str("family", nft_family_name(ev.pf));
        o.num("pf_raw", ev.pf);
        o.str("table", ev.table);
        if (ev.kind == EventKind::Table && !decided)
            o.null("chain");
        else
            o.str("chain", ev.chain);
        if (ev.hook_unknown) {
            o.null("hook").null("hook_name");
        } else {
            o.num("hook", ev.hook);
            if (auto n = known_hook_name(ev.hook, ev.pf))
                o.str("hook_name", *n);
            else
                o.str("hook_name", hook_name(ev.hook, ev.pf));
        }
        const bool nft_rule = ev.kind == EventKind::NftRule;
        if (nft_rule) {
            o.str("in", ev.in_dev).str("out", ev.out_dev);
            if (ev.rule_kind == RuleKind::Rule && ev.rulenum)
                o.num("rulenum", ev.rulenum);
            else
                o.null("rulenum");
            o.str("rule_kind", rule_kind_text(ev.rule_kind));
        } else if (ev.kind == EventKind::Rule) {
            o.str("in", ev.in_dev).str("out", ev.out_dev);
            o.num("rulenum", ev.rulenum);
            o.str("rule_kind", rule_kind_text(ev.rule_kind));
        } else if (decided) {
            o.null("in").null("out");
            o.num("rulenum", ev.rulenum);
            o.str("rule_kind", rule_kind_text(ev.rule_kind));
        } else {
            o.null("in").null("out").null("rulenum").null("rule_kind");
        }
        if (nft_rule) {
            if (ev.nft_verdict_known) {
                o.str("verdict", nft_verdict_name(ev.nft_verdict));
                o.snum("verdict_raw", ev.nft_verdict);
                if (ev.nft_verdict >= 0 && (ev.nft_verdict & 0xff) == 3)
                    o.num("queue_num", static_cast<uint32_t>(ev.nft_verdict) >> 16);
                else
                    o.null("queue_num");
            } else {
                o.null("verdict").null("verdict_raw").null("queue_num");
            }
        } else if (ev.verdict) {
            if (auto n = known_verdict_name(*ev.verdict))
                o.str("verdict", *n);
            else
                o.str("verdict", verdict_name(*ev.verdict));
            o.num("verdict_raw", *ev.verdict);
            if ((*ev.verdict & 0xffu) == 3)
                o.num("queue_num", *ev.verdict >> 16);
            else
                o.null("queue_num");
        } else {
            o.null("verdict").null("verdict_raw").null("queue_num");
        }
        o.opt_num("cost_ns", ev.cost_ns);
        o.num("depth", ev.depth);
        o.boolean("truncated", ev.truncated);
        o.boolean("admin_trace", ev.admin_trace);
        o.opt_str("rule", ev.rule_text);
        o.boolean("rule_stale", ev.rule_text_stale);
        o.opt_num("handle", ev.handle);
        if (nft_rule && !ev.verdict_target.empty())
            o.str("target", ev.verdict_target);
        else
            o.null("target");
        if (nft_rule && !ev.base_chain.empty())
            o.str("base_chain", ev.base_chain);
        else
            o.null("base_chain");
        if (fate) {
            o.boolean("decided", fate->decided);
            o.boolean("dropped", fate->dropped());
            o.num("rules_seen", fate->rules_seen);
            o.str("statement", statement);
        }
        o.end();
        line_.push_back('\n');
        out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
    }

    void lost(uint64_t count, int cpu) override {
        lost_ += count;
        line_.clear();
        JsonObject o(line_);
        o.str("kind", "lost").num("count", count);
        if (cpu >= 0)
            o.num("cpu", static_cast<uint64_t>(cpu));
        else
            o.null("cpu");
        o.end();
        line_.push_back('\n');
        out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
    }

    void flush() override { out_.flush(); }
    uint64_t lost_total() const override { return lost_; }

private:
    std::ostream& out_;
    SinkOptions opts_;
    std::string line_;
    uint64_t lost_ = 0;
};

}  // namespace

std::unique_ptr<Sink> make_json_sink(std::ostream& out, const SinkOptions& opts) {
    return std::make_unique<JsonSink>(out, opts);
}

}  // namespace itr
