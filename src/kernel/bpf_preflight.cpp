// What the bpf backend (no module) needs of the kernel. Pure, so every
// message is unit-tested; the facts are the module backend's.
#include "iptables_trace/preflight.hpp"

#ifndef ITR_BPF_MACHINE
#error "ITR_BPF_MACHINE: set by src/kernel/CMakeLists.txt from bpf/CMakeLists.txt"
#endif

namespace itr {
namespace {

Check make(std::string name, bool ok, bool fatal, std::string detail, std::string hint = {})
{
    return Check{std::move(name), ok, fatal, std::move(detail), std::move(hint)};
}

}  // namespace

const char* bpf_object_machine()
{
    return ITR_BPF_MACHINE;
}

std::vector<Check> evaluate_bpf_preflight(const KernelFacts& f)
{
    std::vector<Check> c;
    c.push_back(f.is_root ? make("root", true, true, "running as root")
                          : make("root", false, true, "not running as root",
                                 "run it with sudo: loading and attaching BPF programs needs root"));
    // The BPF object reads probe arguments by one architecture's register
    // conventions: it runs where the binary was built for, nowhere else.
    const std::string built_for = bpf_object_machine();
    c.push_back(f.machine == built_for
                    ? make("arch", true, true, built_for)
                    : make("arch", false, true,
                           "this binary's BPF object is built for " + built_for + " (register conventions), this is " +
                               f.machine,
                           f.machine == "x86_64" || f.machine == "aarch64"
                               ? "use an iptables-trace built for " + f.machine + ", or --backend netlink"
                               : "use --backend netlink (the bpf backend knows x86_64 and aarch64)"));
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
