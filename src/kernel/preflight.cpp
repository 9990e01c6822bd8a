#include "iptables_trace/preflight.hpp"

#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

#include "kallsyms.hpp"
#include "kernel_btf.hpp"

namespace itr {
namespace {

Check make(std::string name, bool ok, bool fatal, std::string detail, std::string hint = {})
{
    return Check{std::move(name), ok, fatal, std::move(detail), std::move(hint)};
}

std::string read_first_line(const char* path)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// "none [integrity] confidentiality" -> "integrity"
std::string parse_lockdown(const std::string& s)
{
    auto open = s.find('[');
    auto close = s.find(']');
    if (open == std::string::npos || close == std::string::npos || close < open)
        return "";
    return s.substr(open + 1, close - open - 1);
}

std::string gunzip_file(const char* path)
{
    std::string out;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return out;
    char buf[65536];
    int n;
    while ((n = gzread(f, buf, sizeof(buf))) > 0)
        out.append(buf, static_cast<size_t>(n));
    gzclose(f);
    return out;
}

std::string config_lookup(const std::string& text, const std::string& key)
{
    std::istringstream in(text);
    std::string line;
    const std::string set = key + "=";
    const std::string unset = "# " + key + " is not set";
    while (std::getline(in, line)) {
        if (line.rfind(set, 0) == 0)
            return line.substr(set.size());
        if (line == unset)
            return "n";
    }
    return "n";  // absent from a complete config means not set
}

Tri tri_from_config(const std::string& v)
{
    if (v.empty())
        return Tri::Unknown;
    return (v == "y" || v == "m") ? Tri::Yes : Tri::No;
}

}  // namespace

namespace {

// The kernel's config text (/proc/config.gz, else /boot/config-<release>),
// read once per process: it is a few hundred kB and start-up asks for
// several keys.
const std::string& kernel_config_text(const std::string& release)
{
    static std::string cached_release, cached_text;
    static bool loaded = false;
    if (loaded && cached_release == release)
        return cached_text;
    std::string text = gunzip_file("/proc/config.gz");
    if (text.empty()) {
        std::ifstream in("/boot/config-" + release);
        if (in) {
            std::stringstream ss;
            ss << in.rdbuf();
            text = ss.str();
        }
    }
    cached_release = release;
    cached_text = std::move(text);
    loaded = true;
    return cached_text;
}

}  // namespace

std::string kernel_config_value(const std::string& release, const std::string& key)
{
    const std::string& text = kernel_config_text(release);
    if (text.empty())
        return "";
    return config_lookup(text, key);
}

bool builtin_lists(std::string_view text, std::string_view module)
{
    auto same = [](char a, char b) { return a == b || ((a == '-' || a == '_') && (b == '-' || b == '_')); };
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (const auto slash = line.rfind('/'); slash != std::string_view::npos)
            line = line.substr(slash + 1);
        if (line.size() != module.size() + 3 || line.substr(module.size()) != ".ko")
            continue;
        bool eq = true;
        for (std::size_t i = 0; i < module.size() && eq; i++)
            eq = same(line[i], module[i]);
        if (eq)
            return true;
    }
    return false;
}

SymbolAnswer answer_symbol(const SymbolEvidence& e)
{
    if (e.module_symbol ? e.module_loaded : e.witness)
        return SymbolAnswer::Present;
    if (e.module_symbol && e.builtin)
        return *e.builtin ? SymbolAnswer::Present : SymbolAnswer::Absent;
    if (!e.in_btf)
        return SymbolAnswer::AskBtf;
    if (*e.in_btf)
        return SymbolAnswer::Present;
    return e.module_symbol ? SymbolAnswer::Absent : SymbolAnswer::AskKallsyms;
}

namespace {

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The probed functions and where to look for each.
struct Wanted {
    const char* func;
    const char* module;   // "" for vmlinux
    const char* witness;  // vmlinux: an entry that exists only with the function
};
// register_kprobe: the kprobe PMU needs CONFIG_KPROBE_EVENTS, which needs
// kprobes. nf_log_trace lives in nf_log.c, which registers the nf_log
// sysctls of every netns.
const Wanted kWanted[] = {{"register_kprobe", "", "/sys/bus/event_source/devices/kprobe"},
                          {"nf_log_trace", "", "/proc/sys/net/netfilter/nf_log"},
                          {"ipt_do_table", "ip_tables", ""},
                          {"ip6t_do_table", "ip6_tables", ""},
                          {"nft_do_chain", "nf_tables", ""}};

void add_source(std::string& list, const char* s)
{
    if (list.find(s) == std::string::npos)
        list += (list.empty() ? "" : ", ") + std::string(s);
}

}  // namespace

KernelFacts gather_kernel_facts()
{
    KernelFacts f;
    struct utsname u {};
    if (uname(&u) == 0) {
        f.release = u.release;
        f.machine = u.machine;
    }
    f.is_root = geteuid() == 0;
    f.vmlinux_btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
    f.modules = access("/proc/modules", R_OK) == 0;
    f.modules_disabled = read_first_line("/proc/sys/kernel/modules_disabled") == "1";
    f.lockdown = parse_lockdown(read_first_line("/sys/kernel/security/lockdown"));
    f.sig_enforce = read_first_line("/sys/module/module/parameters/sig_enforce") == "Y";

    // Which modules are built in, for those not loaded: a small text file
    // that settles it without kernel BTF.
    std::optional<std::string> builtin_text;
    if (std::ifstream in("/lib/modules/" + f.release + "/modules.builtin"); in) {
        std::stringstream ss;
        ss << in.rdbuf();
        builtin_text = ss.str();
    }
    constexpr std::size_t n = std::size(kWanted);
    bool found[n] = {};
    std::vector<std::size_t> ask_kallsyms;
    for (std::size_t i = 0; i < n; i++) {
        const Wanted& w = kWanted[i];
        SymbolEvidence e;
        e.module_symbol = *w.module != '\0';
        if (e.module_symbol) {
            e.module_loaded = exists(std::string("/sys/module/") + w.module);
            if (builtin_text && !e.module_loaded) {
                e.builtin = builtin_lists(*builtin_text, w.module);
                add_source(f.symbol_sources, "modules.builtin");
            }
        } else
            e.witness = exists(w.witness);
        add_source(f.symbol_sources, "sysfs");
        SymbolAnswer a = answer_symbol(e);
        if (a == SymbolAnswer::AskBtf) {
            e.in_btf = f.vmlinux_btf && KernelBtf::shared().find_func(w.func).has_value();
            add_source(f.symbol_sources, "BTF");
            a = answer_symbol(e);
        }
        if (a == SymbolAnswer::AskKallsyms)
            ask_kallsyms.push_back(i);
        found[i] = a == SymbolAnswer::Present;
    }
    bool kallsyms_readable = true;
    if (!ask_kallsyms.empty()) {
        add_source(f.symbol_sources, "/proc/kallsyms");
        std::vector<std::string> names;
        for (auto i : ask_kallsyms)
            names.emplace_back(kWanted[i].func);
        Kallsyms syms = Kallsyms::read(names);
        kallsyms_readable = syms.readable();
        for (auto i : ask_kallsyms)
            found[i] = syms.has(kWanted[i].func);
    }
    f.nf_log_trace = found[1];
    f.ipt_do_table = found[2];
    f.ip6t_do_table = found[3];
    f.nft_do_chain = found[4];
    if (found[0])
        f.kprobes = Tri::Yes;
    else if (kallsyms_readable)
        f.kprobes = Tri::No;
    else
        f.kprobes = tri_from_config(kernel_config_value(f.release, "CONFIG_KPROBES"));
    // A loaded xt_TRACE settles it without reading the config.
    f.xt_trace = exists("/sys/module/xt_TRACE")
                     ? Tri::Yes
                     : tri_from_config(kernel_config_value(f.release, "CONFIG_NETFILTER_XT_TARGET_TRACE"));
    if (!f.ipt_do_table)  // only asked when the table function is missing
        f.xtables_legacy = tri_from_config(kernel_config_value(f.release, "CONFIG_IP_NF_IPTABLES"));
    return f;
}

Check kprobes_check(Tri kprobes)
{
    switch (kprobes) {
    case Tri::Yes: return make("kprobes", true, true, "kprobes available");
    case Tri::No:
        return make("kprobes", false, true, "this kernel has no kprobes (CONFIG_KPROBES is not set)",
                    "use --backend netlink");
    case Tri::Unknown: break;
    }
    return make("kprobes", true, false, "could not tell whether kprobes exist");
}

Check module_arch_check(const std::string& machine)
{
    // The module is x86-64 only: its probes read the table functions'
    // arguments from x86-64 registers and silence nf_log_trace by
    // rewriting one (regs->si). On arm64 the bpf backend does the job
    // without a module (README: "arm64").
    return machine == "x86_64"
               ? make("arch", true, true, "x86_64")
               : make("arch", false, true,
                      "the kernel module is x86-64 only (its probes read and rewrite x86-64 argument "
                      "registers), this is " + machine,
                      machine == "aarch64" ? "use --backend bpf (no module needed), or --backend netlink"
                                           : "use --backend netlink");
}

std::vector<Check> evaluate_module_preflight(const KernelFacts& f)
{
    std::vector<Check> c;
    c.push_back(f.is_root ? make("root", true, true, "running as root")
                          : make("root", false, true, "not running as root",
                                 "run it with sudo: loading BPF programs and a module needs root"));
    c.push_back(module_arch_check(f.machine));
    c.push_back(f.vmlinux_btf ? make("btf", true, true, "/sys/kernel/btf/vmlinux present")
                              : make("btf", false, true, "no kernel BTF (/sys/kernel/btf/vmlinux missing)",
                                     "a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed"));
    c.push_back(kprobes_check(f.kprobes));
    if (!f.modules)
        c.push_back(make("modules", false, true, "this kernel cannot load modules (CONFIG_MODULES is not set)",
                         "use --backend netlink"));
    else if (f.modules_disabled)
        c.push_back(make("modules", false, true, "module loading is disabled (kernel.modules_disabled=1)",
                         "use --backend netlink"));
    else if (f.lockdown == "integrity" || f.lockdown == "confidentiality")
        c.push_back(make("modules", false, true,
                         "kernel lockdown (" + f.lockdown + ") refuses unsigned modules",
                         "use --backend netlink, or sign the module with a key the kernel trusts"));
    else if (f.sig_enforce)
        c.push_back(make("modules", false, true, "module signatures are enforced (module.sig_enforce=Y)",
                         "use --backend netlink, or sign the module with a key the kernel trusts"));
    else
        c.push_back(make("modules", true, true, "loadable modules allowed"));

    if (f.ipt_do_table)
        c.push_back(make("ipt_do_table", true, true, "legacy iptables (ip_tables) present"));
    else if (f.xtables_legacy == Tri::No)
        c.push_back(make("ipt_do_table", false, true,
                         "this kernel has no legacy iptables (ipt_do_table): CONFIG_IP_NF_IPTABLES or "
                         "CONFIG_NETFILTER_XTABLES_LEGACY (6.17+) is not set",
                         "rulesets from iptables-nft are nftables: use --backend netlink"));
    else
        c.push_back(make("ipt_do_table", false, true, "ipt_do_table not found: module ip_tables is not loaded",
                         "modprobe ip_tables"));
    c.push_back(f.ip6t_do_table ? make("ip6t_do_table", true, false, "legacy ip6tables present")
                                : make("ip6t_do_table", false, false, "no ip6t_do_table: IPv6 tables not traced",
                                       "modprobe ip6_tables"));
    c.push_back(f.nf_log_trace ? make("nf_log_trace", true, true, "nf_log_trace present")
                               : make("nf_log_trace", false, true, "nf_log_trace not found in kallsyms"));
    if (f.xt_trace == Tri::No)
        c.push_back(make("trace", false, true,
                         "CONFIG_NETFILTER_XT_TARGET_TRACE is not set: ipt_do_table never reports rules",
                         "use --backend netlink"));
    else
        c.push_back(make("trace", true, true,
                         f.xt_trace == Tri::Yes ? "CONFIG_NETFILTER_XT_TARGET_TRACE set"
                                                : "kernel config not exposed; assuming TRACE support"));
    c.push_back(f.nft_do_chain ? make("nft_do_chain", true, false, "nftables present: nft lines enabled")
                               : make("nft_do_chain", false, false, "nftables not loaded: no nft lines"));
    if (!f.have_module_image && f.machine != "x86_64")
        c.push_back(make("module", false, true, "this binary carries no kernel module (there is none for " +
                                                    f.machine + ")",
                         "use --backend bpf or --backend netlink"));
    else if (!f.have_module_image)
        c.push_back(make("module", false, true, "this binary carries no kernel module",
                         "rebuild with the kernel headers installed (linux-headers-" + f.release +
                             "), or pass --kmod PATH"));
    else if (f.module_vermagic != f.release)
        c.push_back(make("module", false, true,
                         "the module was built for kernel " + f.module_vermagic + ", this is " + f.release,
                         "rebuild on this kernel (with linux-headers-" + f.release + ") or pass --kmod PATH"));
    else
        c.push_back(make("module", true, true, "module built for " + f.release));
    return c;
}

}  // namespace itr
