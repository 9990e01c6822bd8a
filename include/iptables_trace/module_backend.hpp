// The module backend: our kernel module runs BPF programs from kprobes on
// the table functions (src/kernel).
#pragma once

#include <memory>

#include "iptables_trace/backend.hpp"

namespace itr {

// Where the module backend pins its programs (a private 0700 folder).
inline constexpr const char* kPinDir = "/sys/fs/bpf/iptables-trace";

std::unique_ptr<BackendProvider> make_module_provider();

}  // namespace itr
