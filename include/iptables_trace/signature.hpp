// Which argument register holds skb, state and table for ipt_do_table /
// ip6t_do_table. The prototype changed in 5.16; we read it from BTF and pass
// the answer down to BPF and the module as data.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iptables_trace/event.h"
#include "iptables_trace/result.hpp"

namespace itr {

struct FuncParam {
    std::string name;
    bool is_pointer = false;
    std::string pointee;  // "sk_buff", "nf_hook_state", "xt_table", "void", ...
};

// Pure: layout from a BTF prototype's parameters; nullopt if unrecognised.
std::optional<itr_arg_layout> layout_from_params(const std::vector<FuncParam>& params);

// Pure: layout from the kernel release when no BTF describes the function
// (5.10 builds ip_tables as a module and has no module BTF).
itr_arg_layout layout_from_release(const std::string& release);

// Pure: layout from our module's .modinfo value ("120": skb in argument 1,
// state in 2, table in 0), which the module's build takes from the
// prototype in that kernel's headers; nullopt if malformed or "???".
std::optional<itr_arg_layout> layout_from_modinfo(std::string_view value);

struct SignatureInfo {
    itr_arg_layout layout{};
    std::string source;  // "BTF of ip_tables", "kernel version 5.10.0-32-amd64", ...
};

// Impure: look in /sys/kernel/btf/vmlinux, then /sys/kernel/btf/<module>
// (start-up prefers layout_from_modinfo: no BTF parse).
Result<SignatureInfo> detect_signature(const std::string& func, const std::string& module,
                                       const std::string& release);

}  // namespace itr
