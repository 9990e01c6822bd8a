#include "module_image.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "iptables_trace/kmod_image.hpp"
#include "iptables_trace/signature.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {
namespace {

std::vector<std::byte> read_file(const std::string& path, int& err)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        err = errno ? errno : ENOENT;
        return {};
    }
    std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(raw.size());
    std::memcpy(out.data(), raw.data(), raw.size());
    err = 0;
    return out;
}

}  // namespace

Result<ModuleImage> module_image(const Options& opts)
{
    ModuleImage img;
    if (opts.kmod_path) {
        int err = 0;
        img.owned = read_file(*opts.kmod_path, err);
        if (err || img.owned.empty())
            return Error{"--kmod " + *opts.kmod_path + ": " + (err ? errno_text(err) : std::string("empty file")),
                         ""};
        img.bytes = img.owned;
        img.origin = *opts.kmod_path;
    } else {
        img.bytes = embedded_kmod();
        img.origin = "embedded";
    }
    return img;
}

KernelFacts facts_with_image(const ModuleImage& img)
{
    KernelFacts f = gather_kernel_facts();
    f.have_module_image = !img.bytes.empty();
    if (f.have_module_image) {
        auto vm = kmod_vermagic_release(img.bytes);
        f.module_vermagic = vm ? *vm : "(unreadable .modinfo)";
    }
    return f;
}

std::optional<Layouts> layouts_from_image(const ModuleImage& img, const KernelFacts& f)
{
    auto info = parse_modinfo(img.bytes);
    if (!info)
        return std::nullopt;
    Layouts l;
    const std::string src = "the module's .modinfo (this kernel's headers)";
    auto ipt = layout_from_modinfo(info->get("itr_ipt_args").value_or(""));
    if (!ipt)
        return std::nullopt;
    l.ipt = *ipt;
    l.ipt_source = src;
    if (f.ip6t_do_table) {
        auto ip6t = layout_from_modinfo(info->get("itr_ip6t_args").value_or(""));
        if (!ip6t)
            return std::nullopt;
        l.ip6t = *ip6t;
        l.ip6t_source = src;
    }
    return l;
}

Result<Layouts> layouts_from_btf(const KernelFacts& f)
{
    Layouts l;
    auto ipt = detect_signature("ipt_do_table", "ip_tables", f.release);
    if (!ipt)
        return ipt.error();
    l.ipt = ipt->layout;
    l.ipt_source = ipt->source;
    if (f.ip6t_do_table) {
        auto ip6t = detect_signature("ip6t_do_table", "ip6_tables", f.release);
        if (!ip6t)
            return ip6t.error();
        l.ip6t = ip6t->layout;
        l.ip6t_source = ip6t->source;
    }
    return l;
}

Result<Layouts> detect_layouts(const ModuleImage& img, const KernelFacts& f)
{
    if (auto l = layouts_from_image(img, f))
        return *l;
    return layouts_from_btf(f);
}

bool same_layout(const itr_arg_layout& a, const itr_arg_layout& b)
{
    return a.valid == b.valid && (!a.valid || (a.skb == b.skb && a.state == b.state && a.table == b.table));
}

std::string module_params(const std::string& pin_dir, const Layouts& l, bool nft_marked)
{
    return std::string(ITR_NAME(ITR_PARAM_PIN_DIR) "=") + pin_dir +
           " " ITR_NAME(ITR_PARAM_ABI) "=" + std::to_string(ITR_ABI_VERSION) +
           " " ITR_NAME(ITR_PARAM_IPT_SKB_ARG) "=" + std::to_string(l.ipt.skb) +
           " " ITR_NAME(ITR_PARAM_IP6T_SKB_ARG) "=" + std::to_string(l.ip6t.valid ? l.ip6t.skb : 0) +
           " " ITR_NAME(ITR_PARAM_NFT_MARKED) "=" + (nft_marked ? "1" : "0");
}

}  // namespace itr
