// Text pieces of the column output, pure and reusable (the JSON sink uses the
// address helpers too). Everything appends to a caller-owned std::string so
// the hot path reuses one buffer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "iptables_trace/model.hpp"

namespace itr {

// The column layout (make_column_sink). Each column is padded with spaces to
// its width (the widths include the separating space; a longer value is
// followed by a single space), and the last column runs to the end of line:
//   TIME 11      [HH:MM:SS] local time (mono_ns + realtime_offset_ns +
//                utc_offset_s), or [S.uuuuuu] since the first event (-t)
//   SKB 21       [0x%016x], [?] when the backend cannot know it (0)
//   NETWORK_NS 13 [inode], [?] when unknown
//   PID 9, CPU 7 decimal, ? when unknown
//   INTERFACE 19 skb->dev name, empty when none
//   DEST_MAC 19  00:00:00:00:00:00 when no MAC header was set
//   IP_LEN 7     decimal, ? when no L3 header was read
//   PKT_INFO 55  append_pkt_info()
//   IPTABLES_INFO append_iptables_info(), then append_rule_suffix()
inline constexpr std::string_view kColumnHeader =
    "TIME       SKB                  NETWORK_NS   PID      CPU    INTERFACE          DEST_MAC           IP_LEN "
    "PKT_INFO                                               IPTABLES_INFO";

// Decimal and fixed 16-digit lower-case hex, without fmt (hot path).
void append_uint(std::string& out, uint64_t v);
void append_hex16(std::string& out, uint64_t v);

// Time pieces of the TIME column, shared with the tree view.
// Local wall-clock time of a monotonic stamp in whole seconds:
// floor((mono_ns + realtime_offset_ns) / 1e9) + utc_offset_s.
int64_t local_seconds(uint64_t mono_ns, int64_t realtime_offset_ns, int32_t utc_offset_s);
// "HH:MM:SS": the time of day of a local second count (any day, also
// before 1970).
void append_hms(std::string& out, int64_t local_sec);
// "S.uuuuuu": mono_ns - first_ns in seconds with microseconds, "-S.uuuuuu"
// when mono_ns is the earlier (per-CPU buffers may hand events over slightly
// out of order).
void append_since(std::string& out, uint64_t mono_ns, uint64_t first_ns);

// Address text: IPv4 dotted quad, IPv6 in RFC 5952 compressed form
// (inet_ntop). version must be 4 or 6.
void append_ip(std::string& out, uint8_t version, const std::array<uint8_t, 16>& addr);
std::string ip_text(uint8_t version, const std::array<uint8_t, 16>& addr);

// "08:00:27:39:de:94"
void append_mac(std::string& out, const std::array<uint8_t, 6>& mac);

// The PKT_INFO column. "src:sport" is written "[v6addr]:sport" for IPv6.
//   TCP with ports:   T_<flags>:src:sport->dst:dport  (flags as in names.hpp,
//                     e.g. T_ACK,PSH; no flag set: T_NONE)
//   TCP, no header:   T:src->dst
//   UDP:              U:src:sport->dst:dport          (no header: U:src->dst)
//   ICMP / ICMPv6:    I_request:src->dst  echo request (8 / 128)
//                     I_reply:src->dst    echo reply   (0 / 129)
//                     I:src->dst          any other type, or no header
//   other protocols:  P_<num>:src:sport->dst:dport    when ports were read
//                     (SCTP 132, UDPLITE 136), else P_<num>:src->dst
//   no L3 header:     ?
void append_pkt_info(std::string& out, const Packet& pkt);
std::string pkt_info(const Packet& pkt);

// The IPTABLES_INFO column (without the optional rule text):
//   Rule:  ipttrace=[pf=PF_INET in=enp0s8 out= table=filter chain=INPUT hook=1 rulenum=1]
//          rulenum=return / rulenum=policy / rulenum=? for the other RuleKinds
//   Table: iptables=[pf=PF_INET table=filter hook=INPUT verdict=ACCEPT cost=36.942µs]
//          verdict=? / cost=? when unknown
//   Nft:   nft=[family=inet table=T chain=C hook=INPUT verdict=ACCEPT cost=36.942µs]
//   NftRule: nfttrace=[family=ip table=filter chain=BLOCK rulenum=1 handle=4 verdict=DROP]
//          rulenum=return (end of a chain, no handle) / policy (no handle) /
//          ? (position unknown); verdict=JUMP:BLOCK, GOTO:C, QUEUE:N,
//          CONTINUE, RETURN, a policy's ACCEPT / DROP, ? when none was sent
void append_iptables_info(std::string& out, const TraceEvent& ev);

// Rule text for the end of a column line: ` rule="<text>"`, or ` rule?="..."`
// when rule_text_stale. Escapes: \" \\ \n \r \t, other control bytes and
// bytes that are not valid UTF-8 as \xNN; valid UTF-8 passes through.
void append_rule_suffix(std::string& out, const TraceEvent& ev);
void append_escaped_quoted_body(std::string& out, std::string_view text);

// Names printed in bare columns (ifname, table, chain, devices): printable
// text passes through, control bytes, spaces and invalid UTF-8 become \xNN
// so a hostile or garbled name cannot break the line or the terminal.
void append_sanitized(std::string& out, std::string_view text);

// Text that is already one printable line (a fate statement, enriched rule
// text) made safe for a terminal once more: control bytes (< 0x20) and DEL
// become \xNN, everything else passes through (spaces, quotes, UTF-8).
void append_controls_escaped(std::string& out, std::string_view text);

// Length of the valid UTF-8 sequence at s[0] (1..4), or 0 when s does not
// start with one (overlong forms, surrogates and > U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view s);

// Display width of text in terminal columns, counting each UTF-8 code point
// as one (good enough for the µ in cost; no East Asian wide handling).
std::size_t display_width(std::string_view text);

}  // namespace itr
