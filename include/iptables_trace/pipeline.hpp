// From a running backend to the output: what is printed (-c, --fate,
// --drops-only), rule text for a poll's events at once, losses, and the
// exit summary. The app sets up and hands over; tests drive it with a fake
// backend.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "iptables_trace/backend.hpp"
#include "iptables_trace/decisions.hpp"
#include "iptables_trace/diagnostics.hpp"
#include "iptables_trace/enricher.hpp"
#include "iptables_trace/fate.hpp"
#include "iptables_trace/sink.hpp"

namespace itr {

struct PipelineOptions {
    uint64_t catch_count = 0;  // -c: stop after this many printed records (events, or fates); 0 = never
    bool fate = false;         // --fate: one fate record after each table call
    bool drops_only = false;   // --drops-only: only the fates of dropped packets
    bool decisions = false;    // tally what decided each table call (backends with table verdicts)
};

class Pipeline {
public:
    // out is the stream the sink writes to: flushed after each poll, and a
    // failed write (the reader went away, | head) ends the run normally.
    // enricher may be null (--no-rule-text).
    Pipeline(PipelineOptions opts, Sink& sink, std::ostream& out, Diagnostics& diag, RuleTextEnricher* enricher);

    // Polls until stop() says so, -c is reached, the reader goes away or
    // the backend fails (said on diag). After a stop, what the kernel
    // buffered is still shown (not after -c: the count is done); then every
    // loss is reported and the summary said. 0, or 1 after a failure.
    int run(TraceBackend& backend, const std::function<bool()>& stop, int poll_timeout_ms = 200);

    // The enricher's diagnostics so far, said on diag (also after each poll).
    void say_enricher_diagnostics();

    uint64_t printed() const { return printed_; }

private:
    bool count_reached() const { return opts_.catch_count && printed_ >= opts_.catch_count; }
    void on_event(TraceEvent& ev);
    void emit(TraceEvent& ev);
    void on_lost(uint64_t n, int cpu);
    void after_poll();
    void flush_out();
    void say_summary(TraceBackend& backend);

    PipelineOptions opts_;
    Sink& sink_;
    std::ostream& out_;
    Diagnostics& diag_;
    RuleTextEnricher* enricher_;
    FateTracker fates_;
    DecisionTally decisions_;
    // With rule text, a poll's events are enriched after the poll: all were
    // stamped before it returned, so one ruleset check per table covers the
    // whole batch instead of one per event (which a flood cannot afford).
    std::vector<TraceEvent> batch_;
    std::string statement_;
    uint64_t printed_ = 0;
    bool out_closed_ = false;
};

}  // namespace itr
