// How often a network namespace's rulesets may be read again.
//
// Whoever owns a network namespace (an unprivileged user's user-namespace
// root, say) can change its rules on every packet; if each change made the
// tracer re-run iptables-save or re-dump nf_tables, that user would set the
// pace of root's process spawning. A re-read is therefore allowed at most
// once per interval per namespace; events in between are answered from what
// was read before and marked uncertain. Pure: the caller passes the time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

namespace itr {

class ReadLimiter {
public:
    // min_gap 0: no limit. At most max_netns namespaces are remembered; the
    // one read longest ago is forgotten first (it may then read once early).
    explicit ReadLimiter(std::chrono::nanoseconds min_gap, size_t max_netns = 1024);
    // Whether netns may be re-read at now_ns; a yes counts as a read.
    bool try_acquire(uint32_t netns, uint64_t now_ns);
    // Whether try_acquire would say yes at now_ns, without counting.
    bool ready(uint32_t netns, uint64_t now_ns) const;

private:
    uint64_t gap_;
    size_t max_;
    std::unordered_map<uint32_t, uint64_t> last_;  // netns -> time of its last re-read
};

}  // namespace itr
