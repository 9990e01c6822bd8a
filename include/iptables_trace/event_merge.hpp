// Two event sources in one order: nf_tables rule events arrive on a netlink
// socket with no kernel timestamp, everything else from the perf buffer
// with one. A netlink message is queued the moment nf_tables emits it, so
// once the socket has been drained, every message emitted before the drain
// began has been handed on: a perf event older than that moment can follow
// them, a younger one waits for the next drain. Then the rule lines of an
// nf_tables chain call always come before that call's nft= line. Pure.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include "iptables_trace/model.hpp"

namespace itr {

class EventMerge {
public:
    using Emit = std::function<void(TraceEvent&)>;

    // Right before the netlink socket is drained: now (CLOCK_MONOTONIC).
    void begin_drain(uint64_t now_mono_ns) { cutoff_ = now_mono_ns; }
    // After the drain: the perf events held back that are now older than
    // the cutoff, in the order they came.
    void release(const Emit& emit);
    // A perf event: handed on now when it is older than the cutoff and
    // nothing is held before it, else kept (copied).
    void offer(TraceEvent& ev, const Emit& emit);
    // At exit, after the last drain: everything held, in order.
    void flush(const Emit& emit);
    size_t held() const { return held_.size(); }

private:
    uint64_t cutoff_ = 0;
    std::deque<TraceEvent> held_;
};

}  // namespace itr
