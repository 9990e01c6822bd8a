// What the bpf backend (no module) needs of the kernel. Pure, so every
// message is unit-tested; the facts are the module backend's.
#include "iptables_trace/preflight.hpp"

namespace itr {
namespace {

Check make(std::string name, bool ok, bool fatal, std::string detail, std::string hint = {})
{
    return Check{std::move(name), ok, fatal, std::move(detail), std::move(hint)};
}

}  // namespace

std::vector<Check> evaluate_bpf_preflight(const KernelFacts& f)
{
    std::vector<Check> c;
    c.push_back(f.is_root ? make("root", true, true, "running as root")
                          : make("root", false, true, "not running as root",
                                 "run it with sudo: loading and attaching BPF programs needs root"));
    c.push_back(f.machine == "x86_64"
                    ? make("arch", true, true, "x86_64")
                    : make("arch", false, true, "the bpf backend supports x86_64 only so far, this is " + f.machine,
                           "use --backend netlink"));
    c.push_back(f.vmlinux_btf ? make("btf", true, true, "/sys/kernel/btf/vmlinux present (CO-RE)")
                              : make("btf", false, true, "no kernel BTF (/sys/kernel/btf/vmlinux missing)",
                                     "a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed, or use --backend netlink"));
    c.push_back(kprobes_check(f.kprobes));
    // Lockdown: integrity refuses unsigned modules, not BPF tracing; only
    // confidentiality refuses the kernel memory reads every program does.
    if (f.lockdown == "confidentiality")
        c.push_back(make("lockdown", false, true,
                         "kernel lockdown (confidentiality) refuses BPF reads of kernel memory",
                         "use --backend netlink"));
    else
        c.push_back(make("lockdown", true, true,
                         f.lockdown.empty() ? "lockdown state unknown (no securityfs): assuming none"
                                            : "lockdown " + f.lockdown + ": BPF tracing allowed, no module needed"));
    if (f.ipt_do_table)
        c.push_back(make("ipt_do_table", true, false, "legacy iptables (ip_tables) present: iptables= lines"));
    else if (f.xtables_legacy == Tri::No)
        c.push_back(make("ipt_do_table", false, false,
                         "no legacy iptables in this kernel: nf_tables lines only (iptables-nft rules are nf_tables)"));
    else
        c.push_back(make("ipt_do_table", false, false,
                         "ip_tables is not loaded: nf_tables lines only until it is (loaded at start when available)"));
    c.push_back(f.ip6t_do_table ? make("ip6t_do_table", true, false, "legacy ip6tables present")
                                : make("ip6t_do_table", false, false, "no ip6t_do_table: legacy IPv6 tables not traced"));
    c.push_back(f.nf_log_trace
                    ? make("nf_log_trace", true, false, "nf_log_trace present: legacy rule lines")
                    : make("nf_log_trace", false, false, "nf_log_trace not found: no legacy rule lines"));
    if (f.xt_trace == Tri::No)
        c.push_back(make("trace", false, false,
                         "CONFIG_NETFILTER_XT_TARGET_TRACE is not set: legacy tables never report rules"));
    c.push_back(f.nft_do_chain ? make("nft_do_chain", true, false, "nf_tables present: nft= lines with cost")
                               : make("nft_do_chain", false, false, "nf_tables not loaded yet: no nft= lines"));
    return c;
}

}  // namespace itr
