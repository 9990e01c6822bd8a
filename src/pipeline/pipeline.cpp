#include <time.h>

#include "iptables_trace/pipeline.hpp"

namespace itr {

Pipeline::Pipeline(PipelineOptions opts, Sink& sink, std::ostream& out, Diagnostics& diag,
                   RuleTextEnricher* enricher)
    : opts_(opts), sink_(sink), out_(out), diag_(diag), enricher_(enricher)
{
}

void Pipeline::say_enricher_diagnostics()
{
    if (enricher_)
        for (const auto& d : enricher_->take_diagnostics())
            diag_.notice(d);
}

void Pipeline::on_event(TraceEvent& ev)
{
    if (enricher_)
        batch_.push_back(std::move(ev));
    else
        emit(ev);
}

// -c counts printed records: events, or fates with --drops-only.
void Pipeline::emit(TraceEvent& ev)
{
    if (out_closed_ || count_reached())
        return;
    if (enricher_)
        enricher_->enrich(ev);  // each source takes the kinds it knows
    if (!opts_.drops_only) {
        sink_.event(ev);
        printed_++;
    }
    if (!opts_.fate && !opts_.decisions)
        return;
    auto f = fates_.consume(ev);
    if (!f)
        return;
    if (opts_.decisions)
        decisions_.add(*f);
    if (!opts_.fate || (opts_.drops_only && !f->dropped()) || count_reached())
        return;
    statement_ = format_fate(*f);
    sink_.fate(*f, statement_);
    printed_++;
}

void Pipeline::on_lost(uint64_t n, int cpu)
{
    sink_.lost(n, cpu);
    diag_.notice("lost " + std::to_string(n) + " events" + (cpu >= 0 ? " on CPU " + std::to_string(cpu) : ""));
}

void Pipeline::flush_out()
{
    sink_.flush();
    out_.flush();
    if (!out_)
        out_closed_ = true;  // the reader went away (| head): a normal end
}

// After each poll (and the final drain): the batch, diagnostics, output.
void Pipeline::after_poll()
{
    for (auto& ev : batch_)
        emit(ev);
    batch_.clear();
    if (enricher_) {
        enricher_->tick();
        say_enricher_diagnostics();
    }
    struct timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    sink_.tick(uint64_t(now.tv_sec) * 1000000000ULL + uint64_t(now.tv_nsec));
    flush_out();
}

int Pipeline::run(TraceBackend& backend, const std::function<bool()>& stop, int poll_timeout_ms)
{
    const EventFn on_event = [this](TraceEvent& ev) { this->on_event(ev); };
    const LostFn on_lost = [this](uint64_t n, int cpu) { this->on_lost(n, cpu); };
    int code = 0;
    while (!stop()) {
        auto st = backend.poll(poll_timeout_ms, on_event, on_lost);
        after_poll();
        if (out_closed_)
            break;
        if (!st) {
            diag_.error(st.error());
            code = 1;
            break;
        }
        if (count_reached())
            break;
    }
    // Stopped by a signal: what the kernel buffered before it is still
    // shown. Then every loss is accounted for, also the last burst's, which
    // the perf buffer itself never got to report.
    if (code == 0 && !out_closed_ && !count_reached()) {
        if (auto st = backend.drain(on_event, on_lost); !st) {
            diag_.error(st.error());
            code = 1;
        }
        after_poll();
    }
    if (uint64_t n = backend.take_unreported_lost(); n > 0) {
        sink_.lost(n, -1);
        diag_.notice("lost " + std::to_string(n) +
                     " events that the kernel could not buffer at the end (the perf buffer had not reported them "
                     "yet)");
        if (!out_closed_)
            flush_out();
    }
    if (!out_closed_) {
        sink_.finish();
        flush_out();
    }
    say_summary(backend);
    return code;
}

void Pipeline::say_summary(TraceBackend& backend)
{
    std::string totals = backend.summary();
    if (enricher_)
        totals += "; " + enricher_->summary();
    diag_.notice(totals);
    for (const auto& line : decisions_.lines())
        diag_.notice(line);
}

}  // namespace itr
