#include "event_stream.hpp"

#include <cerrno>

#include "iptables_trace/decode.hpp"
#include "iptables_trace/sys.hpp"

namespace itr {

Result<std::unique_ptr<PerfEventStream>> PerfEventStream::open(int map_fd, size_t pages_per_cpu)
{
    std::unique_ptr<PerfEventStream> s(new PerfEventStream());
    PerfEventStream* raw = s.get();
    auto reader = PerfReader::open(
        map_fd, pages_per_cpu,
        [raw](int, const void* data, uint32_t size) {
            if (!decode_event_into(data, size, raw->scratch_)) {
                raw->undecodable_++;
                return;
            }
            raw->events_++;
            if (raw->on_event_)
                (*raw->on_event_)(raw->scratch_);
        },
        [raw](int cpu, uint64_t n) {
            raw->lost_ += n;
            if (raw->on_lost_)
                (*raw->on_lost_)(n, cpu);
        });
    if (!reader)
        return reader.error();
    s->reader_.emplace(std::move(*reader));
    return s;
}

Status PerfEventStream::run(int rc)
{
    on_event_ = nullptr;
    on_lost_ = nullptr;
    if (rc < 0 && rc != -EINTR)
        return Error{"reading the perf buffer: " + errno_text(-rc), ""};
    return ok_status();
}

Status PerfEventStream::poll(int timeout_ms, const EventFn& on_event, const LostFn& on_lost)
{
    on_event_ = &on_event;
    on_lost_ = &on_lost;
    return run(reader_->poll(timeout_ms));
}

Status PerfEventStream::drain(const EventFn& on_event, const LostFn& on_lost)
{
    on_event_ = &on_event;
    on_lost_ = &on_lost;
    return run(reader_->drain());
}

std::string PerfEventStream::totals() const
{
    std::string s = "events " + std::to_string(events_) + ", lost " + std::to_string(lost_);
    if (undecodable_)
        s += ", undecodable " + std::to_string(undecodable_);
    return s;
}

}  // namespace itr
