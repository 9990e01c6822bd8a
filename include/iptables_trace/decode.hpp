// Raw perf-buffer bytes (struct itr_event, event.h) -> TraceEvent (model.hpp).
// Pure. The sample is memcpy'd out first (perf samples are not guaranteed to
// be aligned), network-order fields become host order, names are read with
// a bound (the kernel side may fill a field completely, without a NUL), and
// flags become optionals:
//   ITR_F_HAS_MAC -> pkt.dst_mac, ITR_F_HAS_PORTS -> pkt.sport/dport,
//   ITR_F_HAS_ICMP -> pkt.has_icmp (+ id/seq), ITR_F_HAS_COST -> cost_ns,
//   ITR_F_NO_L3 or an ip_version other than 4/6 -> pkt.ip_version = 0,
//   ITR_F_TRUNCATED -> truncated, ITR_F_ADMIN_TRACE -> admin_trace.
// netns inode 0 means "could not be read" -> nullopt; pid and cpu always
// come from the kernel side and are set. verdict is set for TABLE and NFT
// events only. rule_kind is decoded for RULE events (out of range ->
// Unknown) and left Unknown otherwise.
#pragma once

#include <cstddef>

#include "iptables_trace/model.hpp"
#include "iptables_trace/result.hpp"

namespace itr {

// Errors: size < sizeof(struct itr_event) ("short event: N bytes, want 272"),
// unknown kind. Larger sizes are accepted (perf pads samples to 8 bytes).
Result<TraceEvent> decode_event(const void* data, std::size_t size);

// The same into an existing event, whose strings keep their storage: the
// reader's hot path decodes every sample into one reused TraceEvent.
Status decode_event_into(const void* data, std::size_t size, TraceEvent& ev);

}  // namespace itr
