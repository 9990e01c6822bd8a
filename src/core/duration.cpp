#include "iptables_trace/duration.hpp"

#include "iptables_trace/format.hpp"

namespace itr {
namespace {

// Appends v / 10^prec as "int[.frac]" with trailing zeros of frac removed.
void append_scaled(std::string& out, uint64_t v, int prec) {
    uint64_t pow = 1;
    for (int i = 0; i < prec; ++i) pow *= 10;
    append_uint(out, v / pow);
    uint64_t frac = v % pow;
    if (frac == 0) return;
    while (frac % 10 == 0) {
        frac /= 10;
        --prec;
    }
    char digits[9];
    for (int i = prec - 1; i >= 0; --i) {
        digits[i] = static_cast<char>('0' + frac % 10);
        frac /= 10;
    }
    out.push_back('.');
    out.append(digits, static_cast<std::size_t>(prec));
}

}  // namespace

void append_go_duration(std::string& out, uint64_t ns) {
    constexpr uint64_t kUs = 1000, kMs = 1000 * kUs, kS = 1000 * kMs, kMin = 60 * kS, kHour = 60 * kMin;
    if (ns == 0) {
        out += "0s";
    } else if (ns < kUs) {
        append_uint(out, ns);
        out += "ns";
    } else if (ns < kMs) {
        append_scaled(out, ns, 3);
        out += "\xc2\xb5s";  // µs
    } else if (ns < kS) {
        append_scaled(out, ns, 6);
        out += "ms";
    } else {
        if (ns >= kHour) {
            append_uint(out, ns / kHour);
            out += 'h';
        }
        if (ns >= kMin) {
            append_uint(out, (ns / kMin) % 60);
            out += 'm';
        }
        append_scaled(out, ns % kMin, 9);
        out += 's';
    }
}

std::string go_duration(uint64_t ns) {
    std::string s;
    append_go_duration(s, ns);
    return s;
}

}  // namespace itr
