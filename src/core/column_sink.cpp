// The column sink: one reusable line buffer, one write per event, the
// HH:MM:SS text cached per second.
#include <climits>
#include <cstring>
#include <string>

#include "iptables_trace/format.hpp"
#include "iptables_trace/sink.hpp"

namespace itr {
namespace {

constexpr std::size_t kTimeW = 11, kSkbW = 21, kNetnsW = 13, kPidW = 9, kCpuW = 7, kIfW = 19, kMacW = 19,
                      kLenW = 7, kPktW = 55;

class ColumnSink final : public Sink {
public:
    ColumnSink(std::ostream& out, const SinkOptions& opts) : out_(out), opts_(opts) { line_.reserve(512); }

    void event(const TraceEvent& ev) override {
        packet_columns(ev.mono_ns, ev.pkt);
        append_iptables_info(line_, ev);
        append_rule_suffix(line_, ev);
        line_ += '\n';
        out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
    }

    void fate(const Fate& f, std::string_view statement) override {
        packet_columns(f.mono_ns, f.pkt);
        line_ += "fate=[";
        // Names inside come from the kernel and rulesets: no control byte
        // may reach the terminal.
        append_controls_escaped(line_, statement);
        line_ += "]\n";
        out_.write(line_.data(), static_cast<std::streamsize>(line_.size()));
    }

    // Everything up to IPTABLES_INFO, into a cleared line_.
    void packet_columns(uint64_t mono_ns, const Packet& pkt) {
        if (opts_.header && !header_done_) write_header();
        line_.clear();
        append_time(mono_ns);
        pad(0, kTimeW);

        std::size_t start = line_.size();
        if (pkt.skb) {
            line_ += "[0x";
            append_hex16(line_, pkt.skb);
            line_ += ']';
        } else
            line_ += "[?]";
        pad(start, kSkbW);

        start = line_.size();
        if (pkt.netns) {
            line_ += '[';
            append_uint(line_, *pkt.netns);
            line_ += ']';
        } else
            line_ += "[?]";
        pad(start, kNetnsW);

        start = line_.size();
        opt_num(pkt.pid);
        pad(start, kPidW);

        start = line_.size();
        opt_num(pkt.cpu);
        pad(start, kCpuW);

        start = line_.size();
        append_sanitized(line_, pkt.ifname);
        pad_display(start, kIfW);

        start = line_.size();
        if (pkt.dst_mac)
            append_mac(line_, *pkt.dst_mac);
        else
            line_ += "00:00:00:00:00:00";
        pad(start, kMacW);

        start = line_.size();
        if (pkt.ip_version == 4 || pkt.ip_version == 6)
            append_uint(line_, pkt.ip_len);
        else
            line_ += '?';
        pad(start, kLenW);

        start = line_.size();
        append_pkt_info(line_, pkt);  // ASCII only
        pad(start, kPktW);

    }

    void lost(uint64_t count, int /*cpu*/) override { lost_ += count; }

    void flush() override {
        if (opts_.header && !header_done_) write_header();
        out_.flush();
    }

    uint64_t lost_total() const override { return lost_; }

private:
    void write_header() {
        header_done_ = true;
        out_ << kColumnHeader << '\n';
    }

    void opt_num(const std::optional<uint32_t>& v) {
        if (v)
            append_uint(line_, *v);
        else
            line_ += '?';
    }

    // Pads the column that began at start to width bytes; a value that
    // fills it is still followed by one space.
    void pad(std::size_t start, std::size_t width) {
        const std::size_t used = line_.size() - start;
        line_.append(used < width ? width - used : 1, ' ');
    }
    void pad_display(std::size_t start, std::size_t width) {
        const std::size_t used = display_width(std::string_view(line_).substr(start));
        line_.append(used < width ? width - used : 1, ' ');
    }

    void append_time(uint64_t mono_ns) {
        if (opts_.time_mode == TimeMode::SinceFirst) {
            if (!first_mono_) first_mono_ = mono_ns;
            line_ += '[';
            append_since(line_, mono_ns, *first_mono_);
            line_ += ']';
            return;
        }
        const int64_t sec = local_seconds(mono_ns, opts_.realtime_offset_ns, opts_.utc_offset_s);
        if (sec != cached_sec_) {
            cached_sec_ = sec;
            cached_time_ = '[';
            append_hms(cached_time_, sec);
            cached_time_ += ']';
        }
        line_ += cached_time_;
    }

    std::ostream& out_;
    SinkOptions opts_;
    std::string line_;
    bool header_done_ = false;
    uint64_t lost_ = 0;
    std::optional<uint64_t> first_mono_;
    int64_t cached_sec_ = INT64_MIN;
    std::string cached_time_;  // "[HH:MM:SS]" of cached_sec_
};

}  // namespace

std::unique_ptr<Sink> make_column_sink(std::ostream& out, const SinkOptions& opts) {
    return std::make_unique<ColumnSink>(out, opts);
}

}  // namespace itr
