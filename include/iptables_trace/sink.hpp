// Where decoded events go. Sinks write to an injected std::ostream so tests
// use string streams; stdout carries data only, diagnostics go to stderr.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>

#include <string_view>

#include "iptables_trace/fate.hpp"
#include "iptables_trace/model.hpp"

namespace itr {

enum class TimeMode { Clock, SinceFirst };

struct SinkOptions {
    TimeMode time_mode = TimeMode::Clock;
    // CLOCK_REALTIME minus CLOCK_MONOTONIC at start, in ns: turns an event's
    // monotonic stamp into wall-clock time.
    int64_t realtime_offset_ns = 0;
    // Local time zone offset east of UTC in seconds, for the HH:MM:SS column;
    // injected so golden tests do not depend on the machine's TZ.
    int32_t utc_offset_s = 0;
    bool header = true;  // print the column header before the first line
};

class Sink {
public:
    virtual ~Sink() = default;
    virtual void event(const TraceEvent& ev) = 0;
    // Events the kernel side could not deliver (perf buffer full, netlink
    // ENOBUFS, sequence gap). cpu < 0 when not per CPU.
    virtual void lost(uint64_t count, int cpu) = 0;
    // One table call's outcome (--fate, --drops-only); statement is
    // format_fate(f), made by the caller so the sinks stay free of rule logic.
    virtual void fate(const Fate& f, std::string_view statement) = 0;
    virtual void flush() = 0;
    // After each poll, with CLOCK_MONOTONIC now: a sink that holds events
    // back (the tree view) prints what has waited long enough.
    virtual void tick(uint64_t now_mono_ns) { (void)now_mono_ns; }
    // At exit, before the summary: print whatever is still held back.
    virtual void finish() {}
    // Sum of all counts passed to lost() so far, for the exit summary.
    virtual uint64_t lost_total() const { return 0; }
};

// Columns, the seed's layout (format.hpp has the column pieces). The header
// is written before the first event, or by flush() if no event came yet, so
// the app can call flush() once tracing is live to show it at once. lost()
// writes nothing to the data stream (the app reports loss on stderr); it only
// adds to lost_total().
// A fate line has the packet columns, then `fate=[<statement>]` in place
// of IPTABLES_INFO.
// JSON Lines: one object per event; schema in json.hpp. lost() writes
// {"kind":"lost","count":N,"cpu":C} (cpu null when < 0).

std::unique_ptr<Sink> make_column_sink(std::ostream& out, const SinkOptions& opts);
std::unique_ptr<Sink> make_json_sink(std::ostream& out, const SinkOptions& opts);

}  // namespace itr
