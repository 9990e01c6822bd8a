// itr_bench: the user-space event path on one core (Google Benchmark).
// Every benchmark reports items_per_second, one item being one event (or
// one lookup). Output goes to a discarding stream, so the figures are the
// cost of decoding and formatting, not of the terminal or a file.
//
//   build/itr_bench                       all
//   build/itr_bench --benchmark_filter=Columns
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <tuple>
#include <vector>

#include "event_mix.hpp"
#include "../tests/unit/nft_test_util.hpp"
#include "iptables_trace/decode.hpp"
#include "iptables_trace/enricher.hpp"
#include "iptables_trace/fate.hpp"
#include "iptables_trace/netlink_decode.hpp"
#include "iptables_trace/sink.hpp"
#include "iptables_trace/tree_view.hpp"

namespace {

using namespace itr;

// Counts what it is given and keeps nothing.
class DiscardBuf final : public std::streambuf {
public:
    uint64_t bytes = 0;

protected:
    std::streamsize xsputn(const char*, std::streamsize n) override {
        bytes += static_cast<uint64_t>(n);
        return n;
    }
    int_type overflow(int_type c) override {
        ++bytes;
        return traits_type::not_eof(c);
    }
};

struct Discard {
    DiscardBuf buf;
    std::ostream os{&buf};
};

const std::vector<itr_event>& mix() {
    static const std::vector<itr_event> m = bench::event_mix();
    return m;
}

SinkOptions sink_opts() {
    SinkOptions so;
    so.realtime_offset_ns = 1'700'000'000'000'000'000;
    so.header = false;
    return so;
}

// Moves the stamps forward between laps so the column sink's per-second
// time cache sees new seconds now and then (about every 60k events).
void advance_stamps(std::vector<itr_event>& evs, uint64_t step) {
    for (auto& e : evs) e.ts_ns += step;
}

void BM_Decode(benchmark::State& state) {
    auto evs = mix();
    uint64_t n = 0;
    for (auto _ : state) {
        for (const auto& e : evs) {
            auto r = decode_event(&e, sizeof e);
            benchmark::DoNotOptimize(r);
        }
        n += evs.size();
    }
    state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_Decode);

template <bool Json>
void BM_DecodeFormat(benchmark::State& state) {
    auto evs = mix();
    Discard d;
    auto sink = Json ? make_json_sink(d.os, sink_opts()) : make_column_sink(d.os, sink_opts());
    TraceEvent scratch;
    uint64_t n = 0;
    for (auto _ : state) {
        for (const auto& e : evs) {
            // As the reader does: one event object, its storage reused.
            if (decode_event_into(&e, sizeof e, scratch)) sink->event(scratch);
        }
        n += evs.size();
        advance_stamps(evs, 16'000'000);
    }
    state.SetItemsProcessed(static_cast<int64_t>(n));
    state.SetBytesProcessed(static_cast<int64_t>(d.buf.bytes));
}
// The figure the issue asks for: decode + format, columns and --json.
BENCHMARK(BM_DecodeFormat<false>)->Name("BM_DecodeFormat/Columns");
BENCHMARK(BM_DecodeFormat<true>)->Name("BM_DecodeFormat/Json");

template <bool Json>
void BM_FormatOnly(benchmark::State& state) {
    std::vector<TraceEvent> evs;
    for (const auto& e : mix()) evs.push_back(*decode_event(&e, sizeof e));
    Discard d;
    auto sink = Json ? make_json_sink(d.os, sink_opts()) : make_column_sink(d.os, sink_opts());
    uint64_t n = 0;
    for (auto _ : state) {
        for (const auto& e : evs) sink->event(e);
        n += evs.size();
    }
    state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_FormatOnly<false>)->Name("BM_FormatOnly/Columns");
BENCHMARK(BM_FormatOnly<true>)->Name("BM_FormatOnly/Json");

// The tree view (--tree) over the mix, decoded as the reader does: every
// event grouped into its walk, every block rendered and written once its
// walk is over. One tick() per lap of the mix (17 events), about what the app
// does (one tick per poll, a poll handing over 16 or more events under load).
// The mix ends with an accepted walk, which the next lap's first event on
// that CPU closes; the stamps move 16 ms a lap, so tick() (200 ms) prints
// nothing the events have not already printed.
void BM_DecodeTree(benchmark::State& state) {
    auto evs = mix();
    Discard d;
    TreeOptions to;
    to.sink = sink_opts();
    TreeView view(d.os, to);
    TraceEvent scratch;
    uint64_t n = 0;
    for (auto _ : state) {
        for (const auto& e : evs)
            if (decode_event_into(&e, sizeof e, scratch)) view.event(scratch);
        view.tick(evs.back().ts_ns);
        n += evs.size();
        advance_stamps(evs, 16'000'000);
    }
    view.finish();
    state.SetItemsProcessed(static_cast<int64_t>(n));
    state.SetBytesProcessed(static_cast<int64_t>(d.buf.bytes));
}
BENCHMARK(BM_DecodeTree)->Name("BM_DecodeFormat/Tree");

// The rule-text source, in memory: fingerprints never change, so after the
// first read every lookup is served from the cached ruleset (the steady
// state of a tracer whose rulesets do not change).
class FakeSource final : public RulesetSource {
public:
    uint64_t clock = 0;
    uint64_t fingerprints = 0;
    uint64_t now_ns() override { return clock; }
    uint32_t own_netns() override { return 4026531840u; }
    Result<Fingerprint> fingerprint(uint32_t, Family, const std::string&) override {
        ++fingerprints;
        return Fingerprint{true, 42, std::nullopt};
    }
    Result<std::vector<std::string>> list_tables(uint32_t, Family f) override {
        if (f == Family::Ipv4) return std::vector<std::string>{"filter", "raw", "nat"};
        return std::vector<std::string>{"filter"};
    }
    Result<std::string> save(uint32_t, Family f, const std::string& table) override {
        // Return only the asked-for table, as iptables-save -t does.
        std::string text = f == Family::Ipv4 ? bench::mix_ruleset_v4() : bench::mix_ruleset_v6();
        if (table.empty()) return text;
        const auto start = text.find("*" + table + "\n");
        if (start == std::string::npos) return std::string{};
        const auto end = text.find("COMMIT\n", start);
        return text.substr(start, end + 7 - start);
    }
};

// Rule-text lookup for every Rule event of the mix. Arg 0: the source's
// clock is ahead of every event (no re-check: the cached steady state).
// Arg 1: the clock moves with the events, so a fingerprint check runs for
// every event newer than the last check (a check per event, the worst case
// with EnricherOptions{} and a fake, free fingerprint).
void BM_EnrichRule(benchmark::State& state) {
    const bool chase = state.range(0) != 0;
    auto raw = mix();
    std::vector<TraceEvent> evs;
    for (const auto& e : raw)
        if (e.kind == ITR_EV_RULE) evs.push_back(*decode_event(&e, sizeof e));
    auto src = std::make_unique<FakeSource>();
    FakeSource* fs = src.get();
    fs->clock = chase ? 0 : UINT64_MAX / 2;
    Enricher enr(std::move(src));
    (void)enr.prime();
    uint64_t n = 0, lap = 0;
    for (auto _ : state) {
        ++lap;
        for (auto& ev : evs) {
            if (chase) {
                ev.mono_ns += 1'000'000;
                fs->clock = ev.mono_ns + 1;
            }
            enr.enrich(ev);
            benchmark::DoNotOptimize(ev.rule_text);
        }
        n += evs.size();
    }
    state.SetItemsProcessed(static_cast<int64_t>(n));
    state.counters["fingerprints_per_event"] =
        benchmark::Counter(static_cast<double>(fs->fingerprints) / static_cast<double>(n ? n : 1));
}
BENCHMARK(BM_EnrichRule)->Arg(0)->Arg(1);

// The fate tracker over the whole mix (Rule events held, Table events
// closing calls), plus format_fate for every fate.
void BM_Fate(benchmark::State& state) {
    std::vector<TraceEvent> evs;
    for (const auto& e : mix()) evs.push_back(*decode_event(&e, sizeof e));
    FateTracker ft;
    uint64_t n = 0;
    std::string statement;
    for (auto _ : state) {
        for (const auto& ev : evs) {
            if (auto f = ft.consume(ev)) {
                statement = format_fate(*f);
                benchmark::DoNotOptimize(statement);
            }
        }
        n += evs.size();
    }
    state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_Fate);

// What the app does per event with --fate and rule text on, columns:
// decode, copy (the app copies each event before enriching it), enrich,
// print, track the fate and print it.
void BM_AppPathFate(benchmark::State& state) {
    auto raw = mix();
    Discard d;
    auto sink = make_column_sink(d.os, sink_opts());
    auto src = std::make_unique<FakeSource>();
    src->clock = UINT64_MAX / 2;
    Enricher enr(std::move(src));
    (void)enr.prime();
    FateTracker ft;
    std::string statement;
    uint64_t n = 0;
    for (auto _ : state) {
        for (const auto& e : raw) {
            auto in = decode_event(&e, sizeof e);
            TraceEvent ev = *in;
            if (ev.kind == EventKind::Rule) enr.enrich(ev);
            sink->event(ev);
            if (auto f = ft.consume(ev)) {
                statement = format_fate(*f);
                sink->fate(*f, statement);
            }
        }
        n += raw.size();
        advance_stamps(raw, 16'000'000);
    }
    state.SetItemsProcessed(static_cast<int64_t>(n));
}
BENCHMARK(BM_AppPathFate);

// The nf_tables event path of the netlink backend: NFT_MSG_TRACE bytes
// captured on 6.18 (tests/unit/data/nft-trace/6.18, every scenario, 140-odd
// messages) -> NftTraceHandler (decode, correlate, packet fields) -> sink.
// One item is one event printed; the fixtures' own marking table (inet
// itr_mark) is not the tool's, so its events are printed too.
template <bool Json>
void BM_NftDecodeFormat(benchmark::State& state) {
    std::vector<std::vector<uint8_t>> msgs;
    for (const auto& f : nft::testing::hex_fixtures())
        for (auto& m : nft::testing::read_hex_messages(f.string())) msgs.push_back(std::move(m));
    Discard d;
    auto sink = Json ? make_json_sink(d.os, sink_opts()) : make_column_sink(d.os, sink_opts());
    netlink::NftTraceHandler handler("iptables_trace");
    netlink::DecodeContext ctx;
    ctx.ifname = [](uint32_t) { return std::string("veth0"); };
    ctx.netns = 4026532246u;
    uint64_t events = 0, messages = 0;
    for (auto _ : state) {
        for (const auto& m : msgs) {
            ctx.recv_mono_ns += 1000;
            if (auto ev = handler.handle(m, ctx)) {
                sink->event(*ev);
                ++events;
            }
        }
        messages += msgs.size();
    }
    state.SetItemsProcessed(static_cast<int64_t>(events));
    state.counters["messages/s"] = benchmark::Counter(double(messages), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NftDecodeFormat<false>)->Name("BM_NftDecodeFormat/Columns");
BENCHMARK(BM_NftDecodeFormat<true>)->Name("BM_NftDecodeFormat/Json");

}  // namespace

BENCHMARK_MAIN();
