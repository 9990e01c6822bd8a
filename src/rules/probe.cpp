// itr_rules_probe: a test driver for the rule-text reader (host tests).
//   itr_rules_probe fp <netns|self> <4|6> <table>
//       "present <hash>" or "absent"
//   itr_rules_probe save <netns|self> <4|6> [table]
//       the iptables-save text the reader gets
//   itr_rules_probe lookup [--prime <netns|self>]...
//       reads "<netns|self> <4|6> <table> <chain> <rulenum> <rule|policy|return|unknown>"
//       lines from stdin; for each, enriches an event stamped now with one
//       long-lived Enricher and prints "stale=<0|1> kind=<k> text=<text or ->"
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "iptables_trace/enricher.hpp"

using namespace itr;

namespace {

int usage() {
    std::cerr << "usage: itr_rules_probe fp|save|lookup ...\n";
    return 2;
}

bool parse_netns(RulesetSource& src, const std::string& s, uint32_t& out) {
    if (s == "self") {
        out = src.own_netns();
        return true;
    }
    try {
        out = uint32_t(std::stoul(s));
        return true;
    } catch (...) {
        return false;
    }
}

const char* kind_name(RuleKind k) {
    switch (k) {
    case RuleKind::Rule: return "rule";
    case RuleKind::Policy: return "policy";
    case RuleKind::Return: return "return";
    case RuleKind::Unknown: return "unknown";
    }
    return "?";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string cmd = argv[1];
    auto src = make_system_ruleset_source();
    if (cmd == "fp" || cmd == "save") {
        if (argc < 4) return usage();
        uint32_t netns = 0;
        if (!parse_netns(*src, argv[2], netns)) return usage();
        Family f = std::string(argv[3]) == "6" ? Family::Ipv6 : Family::Ipv4;
        std::string table = argc > 4 ? argv[4] : "";
        if (cmd == "fp") {
            auto fp = src->fingerprint(netns, f, table);
            if (!fp) {
                std::cerr << "itr_rules_probe: " << fp.error().what << "\n";
                return 1;
            }
            if (fp->present) std::printf("present %016llx\n", (unsigned long long)fp->hash);
            else std::printf("absent\n");
            return 0;
        }
        auto text = src->save(netns, f, table);
        if (!text) {
            std::cerr << "itr_rules_probe: " << text.error().what << "\n";
            return 1;
        }
        std::cout << *text;
        return 0;
    }
    if (cmd != "lookup") return usage();
    RulesetSource* raw = src.get();
    Enricher enr(std::move(src));
    for (int i = 2; i + 1 < argc; i += 2) {
        uint32_t netns = 0;
        if (std::string(argv[i]) != "--prime" || !parse_netns(*raw, argv[i + 1], netns)) return usage();
        if (auto st = enr.prime(netns); !st) std::cerr << "itr_rules_probe: prime: " << st.error().what << "\n";
    }
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string ns, fam, table, chain, kind;
        uint32_t num = 0;
        if (!(in >> ns >> fam >> table >> chain >> num >> kind)) continue;
        // As the app's event loop does between polls.
        enr.tick();
        TraceEvent ev;
        ev.kind = EventKind::Rule;
        uint32_t netns = 0;
        if (!parse_netns(*raw, ns, netns)) return usage();
        ev.pkt.netns = netns;
        ev.pf = fam == "6" ? 10 : 2;
        ev.table = table;
        ev.chain = chain;
        ev.rulenum = num;
        ev.rule_kind = kind == "rule" ? RuleKind::Rule
                       : kind == "policy" ? RuleKind::Policy
                       : kind == "return" ? RuleKind::Return
                                          : RuleKind::Unknown;
        ev.mono_ns = raw->now_ns();
        enr.enrich(ev);
        std::cout << "stale=" << (ev.rule_text_stale ? 1 : 0) << " kind=" << kind_name(ev.rule_kind)
                  << " text=" << (ev.rule_text ? *ev.rule_text : std::string("-")) << std::endl;
        for (const auto& d : enr.take_diagnostics()) std::cerr << "itr_rules_probe: " << d << "\n";
    }
    const auto& s = enr.stats();
    std::cerr << "stats: lookups " << s.lookups << " checks " << s.checks << " reads " << s.reads << " changes "
              << s.changes << " stale " << s.stale << " failures " << s.failures << "\n";
    return 0;
}
