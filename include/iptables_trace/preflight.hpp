// What this kernel offers the module backend, and what is missing, in words
// an operator can act on. Facts are gathered once (impure); the verdicts are
// a pure function of them, so every message is unit-tested.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iptables_trace/checks.hpp"

namespace itr {

// Tri-state where the kernel cannot always tell (no config file exposed).
enum class Tri { No, Yes, Unknown };

struct KernelFacts {
    std::string release;             // uname -r
    std::string machine;             // uname -m
    bool is_root = false;            // effective uid 0
    bool vmlinux_btf = false;        // /sys/kernel/btf/vmlinux
    Tri kprobes = Tri::Unknown;      // register_kprobe in BTF or kallsyms / CONFIG_KPROBES
    bool modules = false;            // /proc/modules exists (CONFIG_MODULES)
    bool modules_disabled = false;   // kernel.modules_disabled = 1
    std::string lockdown;            // "none", "integrity", "confidentiality", "" unknown
    bool sig_enforce = false;        // module.sig_enforce = Y
    Tri xt_trace = Tri::Unknown;     // CONFIG_NETFILTER_XT_TARGET_TRACE y/m
    Tri xtables_legacy = Tri::Unknown;  // CONFIG_NETFILTER_XTABLES_LEGACY (6.17+), CONFIG_IP_NF_IPTABLES
    bool ipt_do_table = false;       // symbol present (after loading ip_tables)
    bool ip6t_do_table = false;
    bool nft_do_chain = false;
    bool nf_log_trace = false;
    std::string symbol_sources;      // where the functions were looked up: "sysfs", "sysfs, BTF", ...
    // Module image: empty when the binary carries none and no --kmod was given.
    bool have_module_image = false;
    std::string module_vermagic;     // first word of the image's vermagic
};

// Pure: verdicts for the module backend from the facts.
std::vector<Check> evaluate_module_preflight(const KernelFacts& facts);
// Pure: the module backend's "arch" check (uname -m): x86_64 only.
Check module_arch_check(const std::string& machine);
// Pure: the kprobes check both kprobe-based backends make.
Check kprobes_check(Tri kprobes);
// Pure: verdicts for the bpf backend (kprobes, no module) from the facts.
std::vector<Check> evaluate_bpf_preflight(const KernelFacts& facts);
// uname -m of the machines whose register conventions the embedded BPF
// object was built for: "x86_64" or "aarch64" (bpf/CMakeLists.txt).
const char* bpf_object_machine();

// Whether a kernel function we probe exists. Start-up asks the cheapest
// source that can settle it: a /sys or /proc entry that exists only with
// the function, then kernel BTF (a parse of several MB), then
// /proc/kallsyms (the slowest).
enum class SymbolAnswer { Present, Absent, AskBtf, AskKallsyms };

struct SymbolEvidence {
    bool module_symbol = false;   // defined in a module (ip_tables, ...), not vmlinux
    bool module_loaded = false;   // /sys/module/<module> exists
    std::optional<bool> builtin;  // listed in modules.builtin; unset if that file is unreadable
    bool witness = false;         // vmlinux functions: an entry that exists only with it
    std::optional<bool> in_btf;   // FUNC in vmlinux BTF; unset until BTF is asked
};

// Pure: whether modules.builtin's text lists `module` ("ip_tables" matches
// "kernel/net/ipv4/netfilter/ip_tables.ko"; '-' and '_' are the same).
bool builtin_lists(std::string_view modules_builtin, std::string_view module);

// Pure. A loaded module always carries its function (ipt_do_table is
// exported by ip_tables, with or without module BTF, as on 5.10); one
// that is neither loaded nor built in (modules.builtin, else vmlinux BTF)
// is absent. A function found in BTF is a real, out-of-line one. A
// vmlinux function missing from BTF may still exist (pahole leaves some
// out): only kallsyms can tell.
SymbolAnswer answer_symbol(const SymbolEvidence& e);

// Impure: read /proc, /sys, uname, kernel BTF, the kernel config when
// exposed, and /proc/kallsyms only when BTF leaves a question open.
KernelFacts gather_kernel_facts();

// Kernel config value ("y", "m", "n" or "" when unknown) from /proc/config.gz
// or /boot/config-<release>.
std::string kernel_config_value(const std::string& release, const std::string& key);

}  // namespace itr
