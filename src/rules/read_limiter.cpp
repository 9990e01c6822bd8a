// Re-reads per network namespace, at most one per interval (read_limiter.hpp).
#include "iptables_trace/read_limiter.hpp"

#include <algorithm>

namespace itr {

ReadLimiter::ReadLimiter(std::chrono::nanoseconds min_gap, size_t max_netns)
    : gap_(min_gap.count() > 0 ? uint64_t(min_gap.count()) : 0), max_(std::max<size_t>(max_netns, 1)) {}

bool ReadLimiter::ready(uint32_t netns, uint64_t now_ns) const {
    auto it = last_.find(netns);
    // A clock that went back (it should not: CLOCK_MONOTONIC) allows nothing
    // until it passes the last read again plus the gap.
    return it == last_.end() || (now_ns >= it->second && now_ns - it->second >= gap_);
}

bool ReadLimiter::try_acquire(uint32_t netns, uint64_t now_ns) {
    if (gap_ == 0) return true;
    if (!ready(netns, now_ns)) return false;
    if (last_.size() >= max_ && !last_.count(netns)) {
        auto oldest = std::min_element(last_.begin(), last_.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
        last_.erase(oldest);
    }
    last_[netns] = now_ns;
    return true;
}

}  // namespace itr
