// The kernel side's counters by the names the exit summary shows, built
// from counters.h: the tables' sizes follow the lists, and each is checked
// against the count the kernel side uses.
#pragma once

#include <iterator>

#include "iptables_trace/event.h"

namespace itr {

// Index = enum itr_stat: the BPF map "stats".
inline constexpr const char* kBpfStatNames[] = {
#define ITR_STAT_NAME(suffix, name) #name,
    ITR_BPF_STATS(ITR_STAT_NAME)
#undef ITR_STAT_NAME
};
static_assert(std::size(kBpfStatNames) == ITR_STAT_MAX, "one name per BPF counter");

// The module's counters, then the probe hits the kernel lost: module
// parameters, read from /sys/module/<module>/parameters/<name>.
inline constexpr const char* kModuleCounterNames[] = {
#define ITR_COUNTER_NAME(name, desc) #name,
    ITR_MODULE_COUNTERS(ITR_COUNTER_NAME)
#undef ITR_COUNTER_NAME
    ITR_NAME(ITR_PARAM_MISSED),
};

}  // namespace itr
