#include "kernel_btf.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace itr {
namespace {

std::unique_ptr<KernelBtf>& shared_slot()
{
    static std::unique_ptr<KernelBtf> slot;
    return slot;
}

// FUNCs start-up asks vmlinux about: found in one pass over its types
// instead of one btf__find_by_name_kind (a linear scan too) each.
const char* const kStartupFuncs[] = {"register_kprobe", "nf_log_trace", "ipt_do_table", "ip6t_do_table",
                                     "nft_do_chain"};

}  // namespace

KernelBtf& KernelBtf::shared()
{
    auto& s = shared_slot();
    if (!s)
        s = std::make_unique<KernelBtf>();
    return *s;
}

void KernelBtf::release_shared() { shared_slot().reset(); }

bool KernelBtf::module_has_btf(const std::string& module)
{
    return !module.empty() && module.find('/') == std::string::npos &&
           access(("/sys/kernel/btf/" + module).c_str(), R_OK) == 0;
}

const struct btf* KernelBtf::vmlinux()
{
    if (!vmlinux_tried_) {
        vmlinux_tried_ = true;
        vmlinux_.reset(btf__load_vmlinux_btf());  // libbpf 1.x: NULL + errno on failure
    }
    return vmlinux_.get();
}

bool KernelBtf::has_vmlinux() { return vmlinux() != nullptr; }

const struct btf* KernelBtf::module(const std::string& name)
{
    if (auto it = modules_.find(name); it != modules_.end())
        return it->second.get();
    const struct btf* base = vmlinux();
    if (!base || !module_has_btf(name))
        return nullptr;
    BtfPtr mod(btf__parse_split(("/sys/kernel/btf/" + name).c_str(), const_cast<struct btf*>(base)));
    if (!mod)
        return nullptr;
    return modules_.emplace(name, std::move(mod)).first->second.get();
}

std::optional<uint32_t> KernelBtf::vmlinux_func(const std::string& name)
{
    const struct btf* btf = vmlinux();
    if (!btf)
        return std::nullopt;
    const bool listed = std::any_of(std::begin(kStartupFuncs), std::end(kStartupFuncs),
                                    [&](const char* f) { return name == f; });
    if (!listed) {
        const int id = btf__find_by_name_kind(btf, name.c_str(), BTF_KIND_FUNC);
        return id > 0 ? std::optional<uint32_t>(uint32_t(id)) : std::nullopt;
    }
    if (!scanned_) {
        const uint32_t n = btf__type_cnt(btf);
        for (uint32_t id = 1; id < n; id++) {
            const struct btf_type* t = btf__type_by_id(btf, id);
            if (!t || !btf_is_func(t))
                continue;
            const char* tn = btf__name_by_offset(btf, t->name_off);
            if (!tn)
                continue;
            for (const char* f : kStartupFuncs)
                if (std::strcmp(tn, f) == 0 && !vmlinux_funcs_.count(f))
                    vmlinux_funcs_.emplace(f, id);
        }
        scanned_ = true;
    }
    if (auto it = vmlinux_funcs_.find(name); it != vmlinux_funcs_.end())
        return it->second;
    return std::nullopt;
}

std::optional<BtfFunc> KernelBtf::find_func(const std::string& name, const std::string& module_name)
{
    if (auto id = vmlinux_func(name))
        return BtfFunc{vmlinux(), *id, "vmlinux"};
    if (module_name.empty())
        return std::nullopt;
    const struct btf* mod = module(module_name);
    if (!mod)
        return std::nullopt;
    // Split BTF numbers its own types after the base's: start there, not
    // at 1 as btf__find_by_name_kind would, which rescans all of vmlinux.
    const uint32_t n = btf__type_cnt(mod);
    for (uint32_t id = btf__type_cnt(vmlinux()); id < n; id++) {
        const struct btf_type* t = btf__type_by_id(mod, id);
        if (!t || !btf_is_func(t))
            continue;
        const char* tn = btf__name_by_offset(mod, t->name_off);
        if (tn && name == tn)
            return BtfFunc{mod, id, module_name};
    }
    return std::nullopt;
}

}  // namespace itr
