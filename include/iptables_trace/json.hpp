// A small JSON writer: enough for one flat-ish object per line, with correct
// string escaping. Strings: \" \\ \b \f \n \r \t, other control characters
// (< 0x20, and 0x7f) as \u00XX; valid UTF-8 passes through unchanged; a byte
// that does not start a valid UTF-8 sequence is replaced by U+FFFD (written
// as \ufffd) so the output is always valid JSON and valid UTF-8.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace itr {

void append_json_string(std::string& out, std::string_view s);

class JsonObject {
public:
    // Appends "{" to out; end() appends "}".
    explicit JsonObject(std::string& out);
    JsonObject& str(std::string_view key, std::string_view value);
    JsonObject& opt_str(std::string_view key, const std::optional<std::string>& value);
    JsonObject& num(std::string_view key, uint64_t value);
    JsonObject& snum(std::string_view key, int64_t value);
    JsonObject& boolean(std::string_view key, bool value);
    JsonObject& null(std::string_view key);
    // value must already be valid JSON text.
    JsonObject& raw(std::string_view key, std::string_view json);
    template <typename T>
    JsonObject& opt_num(std::string_view key, const std::optional<T>& v) {
        return v ? num(key, static_cast<uint64_t>(*v)) : null(key);
    }
    // Starts a nested member: writes `"key":` and returns out for the value.
    std::string& begin_member(std::string_view key);
    void end();

private:
    void sep(std::string_view key);
    std::string& out_;
    bool first_ = true;
};

}  // namespace itr

// The JSON Lines schema (make_json_sink): one object per line, every key
// always present, null when the value is unknown or does not apply to the
// kind; zeros stay zeros.
//   "time"        string, RFC 3339 UTC with µs: "2026-11-26T19:26:35.123456Z"
//                 (mono_ns + realtime_offset_ns; -T/-t do not change it)
//   "mono_ns"     number, CLOCK_MONOTONIC of the event
//   "kind"        "rule" | "table" | "nft" | "nftrule" | "fate"
//   "skb"         "0xffff8df50291d200" | null (backend cannot know it)
//   "netns", "pid", "cpu"   number | null
//   "ifname"      string, "" when the skb had no device
//   "dst_mac"     "08:00:27:39:de:94" | null (no MAC header)
//   "ip_version"  4 | 6 | null (no L3 header read)
//   "ip_len"      number | null
//   "proto"       "tcp" | "udp" | "icmp" | "icmp6" | "sctp" | ... | null
//                 (names.hpp l4proto_name; null for unnamed numbers)
//   "l4proto"     number | null (no L3 header)
//   "saddr", "daddr"  address text | null
//   "sport", "dport"  number | null
//   "tcp_flags"   ["ACK","PSH"] (possibly []) for TCP with a header, else null
//   "icmp"        {"type":8,"code":0,"id":1234|null,"seq":1|null} | null;
//                 id and seq are set for echo request/reply only
//   "pf"          "PF_INET" | "PF_INET6" | "UNKNOWN(n)"  (numbering of NFPROTO_*)
//   "family"      "ip" | "ip6" | "inet" | "arp" | "bridge" | "netdev" | "UNKNOWN(n)"
//   "pf_raw"      number
//   "table"       string
//   "chain"       string (rule, nft) | null (table)
//   "hook"        number; "hook_name" "INPUT" ... (names.hpp hook_name)
//   "in", "out"   string (rule: nf_hook_state devices, "" when none) | null
//   "rulenum"     number (rule) | null; for return/policy it is one past
//                 the chain's last rule, as the kernel reports it
//   "rule_kind"   "rule" | "return" | "policy" | "unknown" (rule) | null
//   "verdict"     "ACCEPT" | "DROP" | ... | "UNKNOWN(n)" (table, nft) | null
//   "verdict_raw" number (table, nft) | null
//   "queue_num"   number when verdict is QUEUE, else null
//   "cost_ns"     number | null
//   "depth"       number, nesting of table calls on the CPU
//   "truncated"   bool, a name did not fit the kernel event
//   "admin_trace" bool, the packet carried nf_trace before the tool saw it
//   "rule"        rule text | null;  "rule_stale" bool
//   "handle"      number (nftrule: a rule's handle) | null
//   "target"      string (nftrule: the chain of a jump / goto) | null
//   "base_chain"  string (nftrule: the base chain of the call, when seen) | null
// nftrule (an nf_tables trace event): "family" the table's family, "table",
//   "chain" the rule's chain, "hook"/"hook_name" the base chain's hook or
//   null when it cannot be told (native tables), "in"/"out" iif / oif
//   names, "rulenum" the 1-based position (null: unknown, or a return /
//   policy), "rule_kind" "rule" | "return" | "policy", "verdict" "ACCEPT" |
//   "DROP" | "QUEUE" | "STOLEN" | "CONTINUE" | "JUMP" | "GOTO" | "RETURN" ...
//   (a policy's verdict for policy, RETURN for a chain's end), "verdict_raw"
//   the signed nf_tables code, "cost_ns" null, "rule" iptables-nft-save or
//   nft text.
// fate (--fate, --drops-only): "kind":"fate", every key of a table event,
//   with "chain", "rulenum", "rule_kind", "rule", "rule_stale" of the
//   deciding entry (null when none was seen), plus
//   "decided"     bool, a rule event of this table call was seen
//   "dropped"     bool, the verdict is DROP (REJECT is a DROP too)
//   "rules_seen"  number of rule events in the call
//   "statement"   the human sentence: "DROP by filter/INPUT rule 3: -A ..."
// lost(): {"kind":"lost","count":N,"cpu":C|null}
