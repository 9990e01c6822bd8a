// How the bpf backend follows ipt_do_table / ip6t_do_table and nft_do_chain
// calls: fentry + fexit trampolines where the kernel has BTF for every one
// of them that exists (cheaper than kprobes, and the return sees the
// arguments), kprobes otherwise (5.10: its modules carry no BTF). One
// choice for all: "table calls" below means chain calls too. Chosen at start,
// said by -v and --check. The choice from the facts is pure (unit-tested);
// the fall-backs when the verifier or the attach refuses the trampolines
// are made by the backend, with the reason.
#pragma once

#include <optional>
#include <string>

#include "iptables_trace/result.hpp"

namespace itr {

enum class TableProbes { Fentry, Kprobes };

struct TableProbeFacts {
    // The function exists (its argument layout is known); and where its
    // BTF was found ("vmlinux", or the module's name), nullopt: nowhere.
    bool ipt = false;
    bool ip6t = false;
    bool nft = false;
    std::optional<std::string> ipt_btf;
    std::optional<std::string> ip6t_btf;
    std::optional<std::string> nft_btf;
    // ITR_TABLE_PROBES: "" or "auto" (choose), "fentry", "kprobes".
    std::string forced;
};

struct TableProbeChoice {
    TableProbes how = TableProbes::Kprobes;
    bool forced = false;  // by ITR_TABLE_PROBES: no fall-back when refused
    std::string reason;   // why, in words for -v and --check
};

// Pure. An unknown ITR_TABLE_PROBES value, or "fentry" where no BTF
// allows it, is an error.
Result<TableProbeChoice> choose_table_probes(const TableProbeFacts& f);

// Pure: "table calls via fentry/fexit (<reason>)", "table calls via
// kprobes: <reason>".
std::string describe(const TableProbeChoice& c);

// The same choice after the first one was refused at load or attach.
TableProbeChoice kprobes_after(const TableProbeChoice& refused, const std::string& what);

}  // namespace itr
