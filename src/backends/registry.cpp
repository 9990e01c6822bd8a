#include "iptables_trace/registry.hpp"

#include "iptables_trace/bpf_backend.hpp"
#include "iptables_trace/module_backend.hpp"
#include "iptables_trace/netlink_backend.hpp"

namespace itr {

// The richest first: the module backend sees table verdicts, the skb and
// the CPU, and keeps an administrator's TRACE output as it is; the bpf
// backend sees as much without a module (Secure Boot, another kernel); the
// netlink backend needs neither module nor kprobes.
BackendRegistry default_backend_registry()
{
    std::vector<std::unique_ptr<BackendProvider>> p;
    p.push_back(make_module_provider());
    p.push_back(make_bpf_provider());
    p.push_back(make_netlink_provider());
    return BackendRegistry(std::move(p));
}

}  // namespace itr
