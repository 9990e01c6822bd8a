// The pipeline driven by a fake backend: what is printed, when it stops,
// what is drained, how losses and the summary are said.
#include <gtest/gtest.h>

#include <deque>
#include <sstream>

#include "iptables_trace/pipeline.hpp"
#include "iptables_trace/tree_view.hpp"

using namespace itr;

namespace {

class FakeDiagnostics final : public Diagnostics {
public:
    void notice(std::string_view line) override { notices.emplace_back(line); }
    void error(const Error& e) override { errors.push_back(e.what); }
    void log(std::string_view text) override { logs.emplace_back(text); }
    std::vector<std::string> notices, errors, logs;
};

// One poll's worth of what the kernel would hand over.
struct Batch {
    std::vector<TraceEvent> events;
    uint64_t lost = 0;
    int lost_cpu = -1;
    bool fail = false;
};

class FakeBackend final : public TraceBackend {
public:
    std::string name() const override { return "fake"; }
    Status poll(int, const EventFn& on_event, const LostFn& on_lost) override
    {
        polls++;
        if (polls_left.empty())
            return ok_status();
        Batch b = std::move(polls_left.front());
        polls_left.pop_front();
        if (b.fail)
            return Error{"reading the fake buffer: it broke", ""};
        deliver(b, on_event, on_lost);
        return ok_status();
    }
    Status drain(const EventFn& on_event, const LostFn& on_lost) override
    {
        drains++;
        deliver(at_drain, on_event, on_lost);
        return ok_status();
    }
    uint64_t take_unreported_lost() override { return std::exchange(unreported, 0); }
    std::string summary() const override { return "events " + std::to_string(delivered) + ", lost 0"; }

    std::deque<Batch> polls_left;
    Batch at_drain;
    uint64_t unreported = 0;
    int polls = 0, drains = 0;
    uint64_t delivered = 0;

private:
    void deliver(Batch& b, const EventFn& on_event, const LostFn& on_lost)
    {
        if (b.lost)
            on_lost(b.lost, b.lost_cpu);
        for (auto& ev : b.events) {
            delivered++;
            on_event(ev);
        }
    }
};

// One table call of filter/INPUT on CPU 0, for the packet skb.
TraceEvent in_filter_input(EventKind kind, uint64_t skb)
{
    TraceEvent ev;
    ev.kind = kind;
    ev.pkt.skb = skb;
    ev.pkt.cpu = 0;
    ev.pf = 2;
    ev.hook = 1;
    ev.table = "filter";
    return ev;
}

TraceEvent rule(uint64_t skb, uint32_t rulenum)
{
    TraceEvent ev = in_filter_input(EventKind::Rule, skb);
    ev.chain = "INPUT";
    ev.rulenum = rulenum;
    ev.rule_kind = RuleKind::Rule;
    return ev;
}

TraceEvent table(uint64_t skb, uint32_t verdict)
{
    TraceEvent ev = in_filter_input(EventKind::Table, skb);
    ev.verdict = verdict;
    ev.cost_ns = 1000;
    return ev;
}

constexpr uint32_t kDrop = 0, kAccept = 1;

// A packet dropped by rule 3 and one accepted by rule 1, then a dropped one.
Batch three_packets()
{
    return Batch{{rule(0xa, 3), table(0xa, kDrop), rule(0xb, 1), table(0xb, kAccept), rule(0xc, 3),
                  table(0xc, kDrop)}};
}

struct Harness {
    std::ostringstream out;
    FakeDiagnostics diag;
    FakeBackend backend;
    std::unique_ptr<Sink> sink = make_json_sink(out, SinkOptions{});
    int code = -1;
    uint64_t printed = 0;

    // stop() turns true after `polls` polls, as a signal would.
    void go(PipelineOptions po, int polls = 1000)
    {
        Pipeline p(po, *sink, out, diag, nullptr);
        code = p.run(backend, [&] { return backend.polls >= polls; }, 0);
        printed = p.printed();
    }
    std::vector<std::string> lines() const
    {
        std::vector<std::string> l;
        std::istringstream in(out.str());
        for (std::string s; std::getline(in, s);)
            l.push_back(s);
        return l;
    }
    size_t count(const std::string& what) const
    {
        size_t n = 0;
        for (const auto& l : lines())
            n += l.find(what) != std::string::npos;
        return n;
    }
};

}  // namespace

TEST(Pipeline, CountStopsAfterNPrintedRecordsAndDoesNotDrain) {
    Harness r;
    r.backend.polls_left = {three_packets(), three_packets()};
    r.backend.at_drain = three_packets();
    PipelineOptions po;
    po.catch_count = 4;
    r.go(po);
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.lines().size(), 4u);
    EXPECT_EQ(r.printed, 4u);
    EXPECT_EQ(r.backend.polls, 1) << "-c reached in the first poll ends the loop";
    EXPECT_EQ(r.backend.drains, 0) << "the count is done: nothing more is shown";
}

TEST(Pipeline, CountWithFatesCountsFatesToo) {
    Harness r;
    r.backend.polls_left = {three_packets()};
    PipelineOptions po;
    po.catch_count = 3;
    po.fate = true;
    r.go(po);
    // rule, table, fate: the third record is the first fate.
    ASSERT_EQ(r.lines().size(), 3u);
    EXPECT_NE(r.lines()[2].find("\"kind\":\"fate\""), std::string::npos) << r.lines()[2];
}

TEST(Pipeline, DropsOnlyPrintsOnlyDroppedFates) {
    Harness r;
    r.backend.polls_left = {three_packets()};
    PipelineOptions po;
    po.fate = true;
    po.drops_only = true;
    r.go(po, 1);
    ASSERT_EQ(r.lines().size(), 2u) << r.out.str();
    EXPECT_EQ(r.count("\"kind\":\"fate\""), 2u);
    EXPECT_EQ(r.count("\"dropped\":true"), 2u);
    EXPECT_EQ(r.count("\"kind\":\"rule\""), 0u);

    Harness c;
    c.backend.polls_left = {three_packets()};
    po.catch_count = 1;
    c.go(po);
    EXPECT_EQ(c.lines().size(), 1u) << "-c counts the dropped fates printed";
}

TEST(Pipeline, DrainsAfterAStop) {
    Harness r;
    r.backend.polls_left = {three_packets()};
    r.backend.at_drain = Batch{{rule(0xd, 1)}};
    r.go(PipelineOptions{}, 1);
    EXPECT_EQ(r.backend.drains, 1);
    EXPECT_EQ(r.lines().size(), 7u) << "what the kernel buffered before the stop is shown";
    EXPECT_EQ(r.code, 0);
}

TEST(Pipeline, LossesAreReportedAndCounted) {
    Harness r;
    Batch b = three_packets();
    b.lost = 5;
    b.lost_cpu = 1;
    r.backend.polls_left = {b};
    r.backend.unreported = 3;
    r.go(PipelineOptions{}, 1);
    EXPECT_EQ(r.count("{\"kind\":\"lost\",\"count\":5,\"cpu\":1}"), 1u) << r.out.str();
    EXPECT_EQ(r.count("{\"kind\":\"lost\",\"count\":3,\"cpu\":null}"), 1u) << r.out.str();
    EXPECT_EQ(r.sink->lost_total(), 8u);
    ASSERT_GE(r.diag.notices.size(), 3u);
    EXPECT_EQ(r.diag.notices[0], "lost 5 events on CPU 1");
    EXPECT_EQ(r.diag.notices[1],
              "lost 3 events that the kernel could not buffer at the end (the perf buffer had not reported them yet)");
}

TEST(Pipeline, SummaryTextAndWhatDecided) {
    Harness r;
    r.backend.polls_left = {three_packets()};
    PipelineOptions po;
    po.decisions = true;
    r.go(po, 1);
    ASSERT_EQ(r.diag.notices.size(), 4u);
    EXPECT_EQ(r.diag.notices[0], "events 6, lost 0");
    EXPECT_EQ(r.diag.notices[1], "what decided the traced packets, per table (most first):");
    EXPECT_EQ(r.diag.notices[2], "  2  DROP by filter/INPUT rule 3 (rule text unavailable)");
    EXPECT_EQ(r.diag.notices[3], "  1  ACCEPT by filter/INPUT rule 1 (rule text unavailable)");
    EXPECT_EQ(r.count("\"kind\":\"fate\""), 0u) << "the tally prints no fate records without --fate";

    Harness quiet;
    quiet.backend.polls_left = {three_packets()};
    quiet.go(PipelineOptions{}, 1);
    EXPECT_EQ(quiet.diag.notices, (std::vector<std::string>{"events 6, lost 0"}))
        << "without table verdicts there is nothing to tally";
}

TEST(Pipeline, ABackendFailureIsSaidAndEndsTheRun) {
    Harness r;
    Batch broken;
    broken.fail = true;
    r.backend.polls_left = {three_packets(), broken, three_packets()};
    r.go(PipelineOptions{});
    EXPECT_EQ(r.code, 1);
    EXPECT_EQ(r.diag.errors, (std::vector<std::string>{"reading the fake buffer: it broke"}));
    EXPECT_EQ(r.backend.drains, 0);
    EXPECT_EQ(r.diag.notices.back(), "events 6, lost 0") << "the summary is still said";
}

TEST(Pipeline, AClosedReaderEndsTheRunNormally) {
    Harness r;
    r.backend.polls_left = {three_packets(), three_packets()};
    r.out.setstate(std::ios::badbit);
    r.go(PipelineOptions{});
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.backend.polls, 1);
    EXPECT_EQ(r.backend.drains, 0);
}

// The tree view holds blocks back: the pipeline gives it the time after every
// poll and lets it print what it still holds at the end, before the summary.
TEST(Pipeline, TreeViewGetsTicksAndIsFinishedBeforeTheSummary) {
    Harness h;
    TreeOptions to;
    to.delay_ns = ~uint64_t(0) / 2;  // never by time: only finish() prints here
    h.sink = std::make_unique<TreeView>(h.out, to);
    h.backend.polls_left.push_back(three_packets());
    h.backend.polls_left.push_back(Batch{{rule(0xd, 1)}});  // a walk whose verdict never comes
    h.go(PipelineOptions{}, 3);
    EXPECT_EQ(h.code, 0);
    // Dropped packets print at once; the accepted one and the unfinished one
    // only at the end, and all four are there before the run returns.
    EXPECT_EQ(h.count("skb=0x000000000000000a"), 1u) << h.out.str();
    EXPECT_EQ(h.count("skb=0x000000000000000b"), 1u) << h.out.str();
    EXPECT_EQ(h.count("skb=0x000000000000000c"), 1u) << h.out.str();
    EXPECT_EQ(h.count("skb=0x000000000000000d"), 1u) << h.out.str();
    EXPECT_NE(h.out.str().find("no verdict seen"), std::string::npos) << h.out.str();
    ASSERT_FALSE(h.diag.notices.empty());
    EXPECT_NE(h.diag.notices.front().find("events"), std::string::npos) << "the summary comes after the blocks";
}
