// --check for the module backend: the kernel's facts, the table functions'
// argument layouts from both sources, and every BPF program through the
// verifier; nothing attached, nothing inserted.
#include "module_check.hpp"

#include "iptables_trace/kmod_image.hpp"
#include "iptables_trace/netns.hpp"
#include "iptables_trace/preflight.hpp"
#include "kernel_btf.hpp"
#include "module_bpf.hpp"
#include "module_image.hpp"

namespace itr {
namespace {

void show_layout(std::ostream& out, const char* fn, const itr_arg_layout& l, const std::string& src)
{
    out << "  " << fn << ": skb=arg" << int(l.skb) << " state=arg" << int(l.state) << " table=arg" << int(l.table)
        << " (from " << src << ")\n";
}

void show_layouts(std::ostream& out, const Layouts& l)
{
    show_layout(out, "ipt_do_table", l.ipt, l.ipt_source);
    if (l.ip6t.valid)
        show_layout(out, "ip6t_do_table", l.ip6t, l.ip6t_source);
}

}  // namespace

int module_check(const Options& opts, std::ostream& out, Diagnostics& diag)
{
    auto img = module_image(opts);
    KernelFacts f;
    if (img) {
        f = facts_with_image(*img);
    } else {
        f = gather_kernel_facts();
        out << "module image: " << img.error().what << "\n";
    }
    out << "kernel " << f.release << " " << f.machine << " (functions looked up in " << f.symbol_sources << ")\n";
    write_checks(out, evaluate_module_preflight(f));
    // Both sources when both exist: the module's compile-time answer is
    // what start-up uses, BTF is the independent check on it.
    auto layouts = layouts_from_btf(f);
    if (!layouts) {
        out << "signature: " << layouts.error().what << "\n";
        return 1;
    }
    out << "signatures\n";
    show_layouts(out, *layouts);
    if (img && check_kmod_image(img->bytes, f.release)) {
        if (auto mod = layouts_from_image(*img, f)) {
            show_layouts(out, *mod);
            if (!same_layout(mod->ipt, layouts->ipt) || !same_layout(mod->ip6t, layouts->ip6t)) {
                out << "signature: FAIL: the module's .modinfo and kernel BTF disagree\n";
                return 1;
            }
        } else {
            out << "  (the module's .modinfo has no layouts: start-up reads BTF)\n";
        }
    }
    std::optional<uint32_t> netns;
    if (opts.netns) {
        auto ns = open_netns(*opts.netns);
        if (!ns) {
            out << ns.error().what << "\n";
            return 2;
        }
        netns = ns->inode;
    }
    LibbpfLog log(&diag);
    auto nft = choose_module_nft(f.nft_do_chain);
    if (!nft) {
        out << "nft_do_chain: FAIL: " << nft.error().what << "\n";
        return 1;
    }
    auto skel = load_module_programs(opts, *layouts, netns, nft->how, f.nft_do_chain, true, diag);
    if (!skel && nft->how == NftCalls::Fentry) {
        *nft = {NftCalls::Kprobes, "kprobes: the fentry programs did not load: " + skel.error().what};
        skel = load_module_programs(opts, *layouts, netns, nft->how, f.nft_do_chain, true, diag);
    }
    KernelBtf::release_shared();
    if (!skel) {
        out << "verifier: FAIL: " << skel.error().what << "\n";
        return 1;
    }
    out << "module: nf_tables chain calls via " << nft->why << "\n";
    out << "verifier (programs loaded, nothing attached)\n";
    report_programs((*skel)->obj, out, "not used by this backend, or nft_do_chain absent");
    return 0;
}

}  // namespace itr
