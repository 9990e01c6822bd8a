#include "iptables_trace/format.hpp"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "iptables_trace/duration.hpp"
#include "iptables_trace/names.hpp"

namespace itr {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_byte(std::string& out, unsigned char c) {
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
}

void append_endpoint(std::string& out, const Packet& pkt, const std::array<uint8_t, 16>& addr,
                     std::optional<uint16_t> port) {
    if (port && pkt.ip_version == 6) {
        out.push_back('[');
        append_ip(out, 6, addr);
        out.push_back(']');
    } else {
        append_ip(out, pkt.ip_version, addr);
    }
    if (port) {
        out.push_back(':');
        append_uint(out, *port);
    }
}

void append_flow(std::string& out, const Packet& pkt, bool with_ports) {
    std::optional<uint16_t> sp, dp;
    if (with_ports) {
        sp = pkt.sport;
        dp = pkt.dport;
    }
    append_endpoint(out, pkt, pkt.saddr, sp);
    out += "->";
    append_endpoint(out, pkt, pkt.daddr, dp);
}

}  // namespace

// Digits are written into a stack buffer and appended once: a line has
// about twenty numbers, and per-character appends were the formatter's top
// cost (BENCHMARKS.md).
namespace {
constexpr char kDigitPairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// Writes v's digits ending at end; returns the first digit.
char* put_uint(char* end, uint64_t v) {
    char* p = end;
    while (v >= 100) {
        const auto i = static_cast<unsigned>(v % 100) * 2;
        v /= 100;
        *--p = kDigitPairs[i + 1];
        *--p = kDigitPairs[i];
    }
    if (v >= 10) {
        const auto i = static_cast<unsigned>(v) * 2;
        *--p = kDigitPairs[i + 1];
        *--p = kDigitPairs[i];
    } else {
        *--p = static_cast<char>('0' + v);
    }
    return p;
}

// inet_ntop(AF_INET6) without its sprintf per group, byte for byte the same
// text as glibc's: lowercase hex, the first longest run of two or more zero
// groups as "::", and an embedded IPv4 tail for ::a.b.c.d and ::ffff:a.b.c.d.
char* put_ipv6(char* p, const std::array<uint8_t, 16>& a) {
    uint16_t w[8];
    for (int i = 0; i < 8; ++i) w[i] = static_cast<uint16_t>(a[2 * i] << 8 | a[2 * i + 1]);
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; ++i) {
        if (w[i] == 0) {
            if (cur < 0) cur = i, cur_len = 0;
            if (++cur_len > best_len) best = cur, best_len = cur_len;
        } else {
            cur = -1;
        }
    }
    if (best_len < 2) best = -1;
    for (int i = 0; i < 8; ++i) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) *p++ = ':';
            continue;
        }
        if (i) *p++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
            for (int k = 12; k < 16; ++k) {
                if (k > 12) *p++ = '.';
                char tmp[3];
                char* d = put_uint(tmp + 3, a[k]);
                while (d < tmp + 3) *p++ = *d++;
            }
            return p;
        }
        bool lead = true;
        for (int shift = 12; shift >= 0; shift -= 4) {
            const unsigned nib = (w[i] >> shift) & 0xf;
            if (lead && nib == 0 && shift) continue;
            lead = false;
            *p++ = kHex[nib];
        }
    }
    if (best >= 0 && best + best_len == 8) *p++ = ':';
    return p;
}
}  // namespace

namespace {
constexpr int64_t kNsPerSec = 1'000'000'000;
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
}  // namespace

int64_t local_seconds(uint64_t mono_ns, int64_t realtime_offset_ns, int32_t utc_offset_s) {
    const int64_t wall = static_cast<int64_t>(mono_ns) + realtime_offset_ns;
    return floor_div(wall, kNsPerSec) + utc_offset_s;
}

void append_hms(std::string& out, int64_t local_sec) {
    const int64_t day_sec = local_sec - floor_div(local_sec, 86400) * 86400;
    const auto h = static_cast<int>(day_sec / 3600), m = static_cast<int>(day_sec / 60 % 60),
               s = static_cast<int>(day_sec % 60);
    const char text[8] = {static_cast<char>('0' + h / 10), static_cast<char>('0' + h % 10), ':',
                          static_cast<char>('0' + m / 10), static_cast<char>('0' + m % 10), ':',
                          static_cast<char>('0' + s / 10), static_cast<char>('0' + s % 10)};
    out.append(text, sizeof text);
}

void append_since(std::string& out, uint64_t mono_ns, uint64_t first_ns) {
    const bool neg = mono_ns < first_ns;
    const uint64_t d = neg ? first_ns - mono_ns : mono_ns - first_ns;
    fmt::format_to(std::back_inserter(out), "{}{}.{:06}", neg ? "-" : "", d / kNsPerSec, (d % kNsPerSec) / 1000);
}

void append_uint(std::string& out, uint64_t v) {
    char tmp[20];
    char* const end = tmp + sizeof tmp;
    const char* p = put_uint(end, v);
    out.append(p, static_cast<std::size_t>(end - p));
}

void append_hex16(std::string& out, uint64_t v) {
    char tmp[16];
    for (int i = 15; i >= 0; --i) {
        tmp[i] = kHex[v & 0xf];
        v >>= 4;
    }
    out.append(tmp, 16);
}

void append_ip(std::string& out, uint8_t version, const std::array<uint8_t, 16>& a) {
    char buf[48];
    char* p = buf;
    if (version == 4) {
        for (int i = 0; i < 4; ++i) {
            if (i) *p++ = '.';
            char tmp[3];
            const char* d = put_uint(tmp + 3, a[i]);
            while (d < tmp + 3) *p++ = *d++;
        }
    } else {
        p = put_ipv6(p, a);
    }
    out.append(buf, static_cast<std::size_t>(p - buf));
}

std::string ip_text(uint8_t version, const std::array<uint8_t, 16>& addr) {
    std::string s;
    append_ip(s, version, addr);
    return s;
}

void append_mac(std::string& out, const std::array<uint8_t, 6>& mac) {
    char buf[17];
    char* p = buf;
    for (std::size_t i = 0; i < mac.size(); ++i) {
        if (i) *p++ = ':';
        *p++ = kHex[mac[i] >> 4];
        *p++ = kHex[mac[i] & 0xf];
    }
    out.append(buf, sizeof buf);
}

void append_pkt_info(std::string& out, const Packet& pkt) {
    if (pkt.ip_version != 4 && pkt.ip_version != 6) {
        out.push_back('?');
        return;
    }
    const bool ports = pkt.sport.has_value() && pkt.dport.has_value();
    switch (pkt.l4proto) {
    case 6:  // TCP
        if (ports) {
            out += "T_";
            if (pkt.tcp_flags)
                append_tcp_flags(out, pkt.tcp_flags);
            else
                out += "NONE";
        } else {
            out += 'T';
        }
        break;
    case 17: out += 'U'; break;
    case 1:
    case 58: {
        const bool v6 = pkt.l4proto == 58;
        out += 'I';
        if (pkt.has_icmp) {
            if (pkt.icmp_type == (v6 ? 128 : 8))
                out += "_request";
            else if (pkt.icmp_type == (v6 ? 129 : 0))
                out += "_reply";
        }
        out.push_back(':');
        append_flow(out, pkt, false);
        return;
    }
    default:
        out += "P_";
        append_uint(out, pkt.l4proto);
        break;
    }
    out.push_back(':');
    append_flow(out, pkt, ports);
}

std::string pkt_info(const Packet& pkt) {
    std::string s;
    append_pkt_info(s, pkt);
    return s;
}

void append_iptables_info(std::string& out, const TraceEvent& ev) {
    auto verdict_cost = [&] {
        out += " verdict=";
        if (ev.verdict) {
            if (auto n = known_verdict_name(*ev.verdict))
                out += *n;
            else
                out += verdict_name(*ev.verdict);
        } else {
            out += '?';
        }
        out += " cost=";
        if (ev.cost_ns)
            append_go_duration(out, *ev.cost_ns);
        else
            out += '?';
        out += ']';
    };
    auto hook_text = [&] {
        if (auto n = known_hook_name(ev.hook, ev.pf))
            out += *n;
        else
            out += hook_name(ev.hook, ev.pf);
    };
    auto pf_text = [&] {
        if (auto n = known_pf_name(ev.pf))
            out += *n;
        else
            out += pf_name(ev.pf);
    };

    // "family=ip table=T chain=C" of the nf_tables lines.
    auto nft_names = [&] {
        out += "family=";
        if (auto n = known_nft_family_name(ev.pf))
            out += *n;
        else
            out += nft_family_name(ev.pf);
        out += " table=";
        append_sanitized(out, ev.table);
        out += " chain=";
        append_sanitized(out, ev.chain);
    };

    switch (ev.kind) {
    case EventKind::Rule:
        out += "ipttrace=[pf=";
        pf_text();
        out += " in=";
        append_sanitized(out, ev.in_dev);
        out += " out=";
        append_sanitized(out, ev.out_dev);
        out += " table=";
        append_sanitized(out, ev.table);
        out += " chain=";
        append_sanitized(out, ev.chain);
        out += " hook=";
        append_uint(out, ev.hook);
        out += " rulenum=";
        switch (ev.rule_kind) {
        case RuleKind::Rule: append_uint(out, ev.rulenum); break;
        case RuleKind::Return: out += "return"; break;
        case RuleKind::Policy: out += "policy"; break;
        case RuleKind::Unknown: out += '?'; break;
        }
        out += ']';
        break;
    case EventKind::Table:
        out += "iptables=[pf=";
        pf_text();
        out += " table=";
        append_sanitized(out, ev.table);
        out += " hook=";
        hook_text();
        verdict_cost();
        break;
    case EventKind::Nft:
        out += "nft=[";
        nft_names();
        out += " hook=";
        hook_text();
        verdict_cost();
        break;
    case EventKind::NftRule:
        // Keys as nft_line_fields (nft_fields.hpp) orders them; table=,
        // chain=, rulenum= mean what they mean on ipttrace= lines.
        out += "nfttrace=[";
        nft_names();
        out += " rulenum=";
        switch (ev.rule_kind) {
        case RuleKind::Return: out += "return"; break;
        case RuleKind::Policy: out += "policy"; break;
        case RuleKind::Rule:
        case RuleKind::Unknown:
            if (ev.rulenum)
                append_uint(out, ev.rulenum);
            else
                out += '?';
            break;
        }
        if (ev.handle) {
            out += " handle=";
            append_uint(out, *ev.handle);
        }
        out += " verdict=";
        if (ev.nft_verdict_known)
            append_sanitized(out, nft_verdict_text(ev.nft_verdict, ev.verdict_target));
        else
            out += '?';
        out += ']';
        break;
    }
}

std::size_t utf8_sequence_length(std::string_view s) {
    if (s.empty()) return 0;
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;  // no overlong
        if (c == 0xed) hi = 0x9f;  // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;  // no overlong
        if (c == 0xf4) hi = 0x8f;  // <= U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < len) return 0;
    if (b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < len; ++i)
        if (b(i) < 0x80 || b(i) > 0xbf) return 0;
    return len;
}

std::size_t display_width(std::string_view text) {
    std::size_t w = 0;
    for (unsigned char c : text)
        if ((c & 0xc0) != 0x80) ++w;
    return w;
}

void append_escaped_quoted_body(std::string& out, std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        switch (c) {
        case '\n': out += "\\n"; ++i; continue;
        case '\r': out += "\\r"; ++i; continue;
        case '\t': out += "\\t"; ++i; continue;
        default: break;
        }
        if (c >= 0x80) {
            if (std::size_t n = utf8_sequence_length(text.substr(i))) {
                out.append(text.substr(i, n));
                i += n;
                continue;
            }
        }
        append_hex_byte(out, c);
        ++i;
    }
}

void append_rule_suffix(std::string& out, const TraceEvent& ev) {
    if (!ev.rule_text) return;
    out += ev.rule_text_stale ? " rule?=\"" : " rule=\"";
    append_escaped_quoted_body(out, *ev.rule_text);
    out.push_back('"');
}

void append_controls_escaped(std::string& out, std::string_view text) {
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f)
            append_hex_byte(out, c);
        else
            out.push_back(ch);
    }
}

void append_sanitized(std::string& out, std::string_view text) {
    // Fast path: plain printable ASCII without spaces or backslashes.
    bool plain = true;
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f || c == '\\') {
            plain = false;
            break;
        }
    }
    if (plain) {
        out.append(text);
        return;
    }
    std::size_t i = 0;
    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c > 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (c >= 0x80 && utf8_sequence_length(text.substr(i)) != 0) {
            std::size_t n = utf8_sequence_length(text.substr(i));
            out.append(text.substr(i, n));
            i += n;
        } else {
            append_hex_byte(out, c);
            ++i;
        }
    }
}

}  // namespace itr
