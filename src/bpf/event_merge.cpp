#include "iptables_trace/event_merge.hpp"

namespace itr {

void EventMerge::release(const Emit& emit)
{
    while (!held_.empty() && held_.front().mono_ns < cutoff_) {
        emit(held_.front());
        held_.pop_front();
    }
}

void EventMerge::offer(TraceEvent& ev, const Emit& emit)
{
    if (held_.empty() && ev.mono_ns < cutoff_) {
        emit(ev);
        return;
    }
    held_.push_back(ev);
}

void EventMerge::flush(const Emit& emit)
{
    while (!held_.empty()) {
        emit(held_.front());
        held_.pop_front();
    }
}

}  // namespace itr
