// kprobes that user space places itself (the module places the table
// probes): by address through the kprobe PMU when the address is known,
// else by name through libbpf.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "iptables_trace/result.hpp"
#include "loader.hpp"

namespace itr {

struct AttachedProbes {
    std::vector<LinkPtr> links;
    bool by_address = false;  // every probe went in at the address
};

// Attaches each program as a kprobe on the function at addr (0: unknown),
// a kretprobe for the programs libbpf marks as such. By name (libbpf walks
// every kernel symbol before 6.2, ~100 ms each on 5.10 under TCG) only
// where the address does not work.
Result<AttachedProbes> attach_kprobes(std::span<struct bpf_program* const> progs, uint64_t addr);

// A program whose section names no function ("kprobe", "kretprobe"), on
// `func` (a kretprobe when its section says so).
Result<LinkPtr> attach_kprobe_to(struct bpf_program* prog, const char* func);

}  // namespace itr
