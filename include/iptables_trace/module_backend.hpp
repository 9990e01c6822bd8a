// The module backend: our kernel module runs BPF programs from kprobes on
// the table functions (src/kernel).
#pragma once

#include <memory>

#include "iptables_trace/backend.hpp"

namespace itr {

// Our own bpffs instance (BpffsMount::create_private) and the folder in it
// where the programs wait for the module to take them at its insertion;
// both are gone once it has.
inline constexpr const char* kPrivateBpffs = "/run/iptables-trace.bpffs";
inline constexpr const char* kPinDir = "/run/iptables-trace.bpffs/progs";
// Where versions before the private bpffs pinned, in the shared bpffs: a
// leftover of theirs is removed, carefully (remove_pin_dir).
inline constexpr const char* kLegacyPinDir = "/sys/fs/bpf/iptables-trace";

std::unique_ptr<BackendProvider> make_module_provider();

}  // namespace itr
