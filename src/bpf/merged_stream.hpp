// A perf event stream plus other sources that have no kernel timestamp
// (nf_tables trace listeners, one per netns), read in one poll and handed
// on in one order (EventMerge). The perf stream's totals stay its own.
#pragma once

#include <poll.h>

#include <vector>

#include "event_stream.hpp"
#include "iptables_trace/backend.hpp"
#include "iptables_trace/event_merge.hpp"

namespace itr {

struct SideSource {
    TraceBackend* backend = nullptr;  // drain() hands over what is queued
    int fd = -1;                      // readable when something is
};

class MergedStream {
public:
    MergedStream(PerfEventStream& perf, std::vector<SideSource> sides) : perf_(perf), sides_(std::move(sides)) {}

    // keep_side: whether a side source's event is shown (-p drops them).
    Status poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost, bool keep_side = true);
    Status drain(const EventFn& on_event, const LostFn& on_lost, bool keep_side = true);

private:
    Status pass_on(const EventFn& on_event, const LostFn& on_lost, bool keep_side, bool last);

    PerfEventStream& perf_;
    std::vector<SideSource> sides_;
    std::vector<pollfd> pollfds_;  // the perf buffer's, then each side's; made at the first poll
    EventMerge merge_;
};

}  // namespace itr
