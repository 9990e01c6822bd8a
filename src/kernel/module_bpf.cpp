#include "module_bpf.hpp"

#include <cstdlib>
#include <utility>
#include <vector>

#include "iptables_trace/filter.hpp"
#include "kernel_btf.hpp"

namespace itr {

Result<NftChoice> choose_module_nft(bool nft_do_chain)
{
    const char* env = std::getenv("ITR_TABLE_PROBES");
    const std::string want = env ? env : "";
    if (!want.empty() && want != "auto" && want != "fentry" && want != "kprobes")
        return Error{"ITR_TABLE_PROBES=" + want + ": unknown value", "use auto, fentry or kprobes"};
    if (!nft_do_chain)
        return NftChoice{NftCalls::None, "nft_do_chain absent"};
    if (want == "kprobes")
        return NftChoice{NftCalls::Kprobes, "kprobes: ITR_TABLE_PROBES=kprobes"};
    // A file test, not a BTF parse: start-up parses no BTF of its own
    // (libbpf finds the attach target). Built-in nf_tables is left to
    // kprobes rather than a guess.
    if (KernelBtf::module_has_btf("nf_tables"))
        return NftChoice{NftCalls::Fentry, "fentry/fexit (/sys/kernel/btf/nf_tables)"};
    if (want == "fentry")
        return Error{"ITR_TABLE_PROBES=fentry: no /sys/kernel/btf/nf_tables", "unset ITR_TABLE_PROBES to let kprobes serve"};
    return NftChoice{NftCalls::Kprobes, "kprobes: no /sys/kernel/btf/nf_tables (a kernel before 5.11, or nf_tables built in)"};
}

Result<ModuleSkel> load_module_programs(const Options& opts, const Layouts& l, std::optional<uint32_t> netns,
                                        NftCalls nft, bool nft_marked, bool marks_every_filtered, Diagnostics& diag)
{
    auto cfg = make_bpf_config(opts, l.ipt, l.ip6t, netns);
    if (!cfg)
        return cfg.error();
    cfg->mode = nft_marked ? ITR_MODE_MODULE_NFT : ITR_MODE_MODULE;
    // The nft programs stop at an unmarked skb; the legacy table programs
    // never look at this (the module marks for them).
    cfg->marked_only = nft_marked && marks_every_filtered ? 1 : 0;
    auto configure = [&](struct iptables_trace_bpf& skel) {
        skel.rodata->itr_cfg = *cfg;
        // The module's programs only: the object also holds the bpf
        // backend's (ITR_MODE_KPROBES), and a program added there later
        // must not be loaded here by default.
        struct bpf_program* prog = nullptr;
        bpf_object__for_each_program(prog, skel.obj) bpf_program__set_autoload(prog, false);
        for (auto* p : {skel.progs.kprobe_ipt_do_table, skel.progs.kretprobe_ipt_do_table,
                        skel.progs.kprobe_ip6t_do_table, skel.progs.kretprobe_ip6t_do_table,
                        skel.progs.kprobe_nf_log_trace})
            bpf_program__set_autoload(p, true);
        bpf_program__set_autoload(skel.progs.kprobe_nft_do_chain, nft == NftCalls::Kprobes);
        bpf_program__set_autoload(skel.progs.kretprobe_nft_do_chain, nft == NftCalls::Kprobes);
        bpf_program__set_autoload(skel.progs.fentry_nft_do_chain, nft == NftCalls::Fentry);
        bpf_program__set_autoload(skel.progs.fexit_nft_do_chain, nft == NftCalls::Fentry);
    };
    return load_skeleton<struct iptables_trace_bpf>(configure, diag, opts.verbose);
}

Status pin_module_programs(struct iptables_trace_bpf& skel, PinDir& pins, bool ip6t)
{
    auto* p = &skel.progs;
    std::vector<std::pair<struct bpf_program*, const char*>> to_pin = {
        {p->kprobe_ipt_do_table, ITR_PIN_IPT_ENTRY},
        {p->kretprobe_ipt_do_table, ITR_PIN_IPT_RETURN},
        {p->kprobe_nf_log_trace, ITR_PIN_LOG_TRACE},
    };
    if (ip6t) {
        to_pin.push_back({p->kprobe_ip6t_do_table, ITR_PIN_IP6T_ENTRY});
        to_pin.push_back({p->kretprobe_ip6t_do_table, ITR_PIN_IP6T_RETURN});
    }
    for (auto& [prog, pin] : to_pin)
        if (auto st = pins.pin(prog, pin); !st)
            return st;
    return ok_status();
}

}  // namespace itr
