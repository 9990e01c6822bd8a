#include "iptables_trace/signature.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "iptables_trace/sys.hpp"
#include "kernel_btf.hpp"

namespace itr {
namespace {

itr_arg_layout make_layout(uint8_t skb, uint8_t state, uint8_t table)
{
    itr_arg_layout l{};
    l.skb = skb;
    l.state = state;
    l.table = table;
    l.valid = 1;
    return l;
}

// Follows typedefs and modifiers down to the named struct/void a pointer
// points at.
FuncParam describe_param(const struct btf* btf, const struct btf_param& p)
{
    FuncParam fp;
    const char* n = btf__name_by_offset(btf, p.name_off);
    fp.name = n ? n : "";
    const struct btf_type* t = btf__type_by_id(btf, p.type);
    while (t && (btf_is_typedef(t) || btf_is_mod(t)))
        t = btf__type_by_id(btf, t->type);
    if (t && btf_is_ptr(t)) {
        fp.is_pointer = true;
        __u32 id = t->type;
        t = id ? btf__type_by_id(btf, id) : nullptr;
        while (t && (btf_is_typedef(t) || btf_is_mod(t))) {
            id = t->type;
            t = id ? btf__type_by_id(btf, id) : nullptr;
        }
        if (!t)
            fp.pointee = "void";
        else {
            const char* pn = btf__name_by_offset(btf, t->name_off);
            fp.pointee = pn ? pn : "";
        }
    }
    return fp;
}

std::optional<std::vector<FuncParam>> params_of(const struct btf* btf, uint32_t func_id)
{
    const struct btf_type* fn = btf__type_by_id(btf, func_id);
    const struct btf_type* proto = fn ? btf__type_by_id(btf, fn->type) : nullptr;
    if (!proto || !btf_is_func_proto(proto))
        return std::nullopt;
    std::vector<FuncParam> out;
    const struct btf_param* ps = btf_params(proto);
    for (int i = 0; i < btf_vlen(proto); i++)
        out.push_back(describe_param(btf, ps[i]));
    return out;
}

}  // namespace

std::optional<itr_arg_layout> layout_from_params(const std::vector<FuncParam>& params)
{
    if (params.size() != 3)
        return std::nullopt;
    // 5.16+: (void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
    if (params[0].name == "priv" && params[1].pointee == "sk_buff" && params[2].pointee == "nf_hook_state")
        return make_layout(1, 2, 0);
    // before: (struct sk_buff *skb, const struct nf_hook_state *state, struct xt_table *table)
    if (params[0].pointee == "sk_buff" && params[1].pointee == "nf_hook_state" && params[2].pointee == "xt_table")
        return make_layout(0, 1, 2);
    return std::nullopt;
}

std::optional<itr_arg_layout> layout_from_modinfo(std::string_view v)
{
    if (v.size() != 3)
        return std::nullopt;
    uint8_t idx[3];
    for (int i = 0; i < 3; i++) {
        if (v[i] < '0' || v[i] > '5')
            return std::nullopt;
        idx[i] = uint8_t(v[i] - '0');
    }
    if (idx[0] == idx[1] || idx[0] == idx[2] || idx[1] == idx[2])
        return std::nullopt;
    return make_layout(idx[0], idx[1], idx[2]);
}

itr_arg_layout layout_from_release(const std::string& release)
{
    unsigned major = 0, minor = 0;
    std::sscanf(release.c_str(), "%u.%u", &major, &minor);
    if (major > 5 || (major == 5 && minor >= 16))
        return make_layout(1, 2, 0);
    return make_layout(0, 1, 2);
}

Result<SignatureInfo> detect_signature(const std::string& func, const std::string& module,
                                       const std::string& release)
{
    KernelBtf& kb = KernelBtf::shared();
    if (!kb.has_vmlinux())
        return Error{"reading kernel BTF: " + errno_text(errno), ""};
    if (auto fn = kb.find_func(func, module)) {
        const std::string where = fn->where == "vmlinux" ? "BTF of vmlinux" : "BTF of " + fn->where;
        if (auto ps = params_of(fn->btf, fn->id))
            if (auto l = layout_from_params(*ps))
                return SignatureInfo{*l, where};
        return Error{func + ": unrecognised prototype in " + where, "please report this kernel version"};
    }
    return SignatureInfo{layout_from_release(release), "kernel version " + release + " (no BTF for " + func + ")"};
}

}  // namespace itr
