// The module backend's BPF object: configured from the options and the
// argument layouts, loaded (the verifier's work said with -v), and the
// programs the module runs pinned where it looks for them.
#pragma once

#include <cstdint>
#include <optional>

// The skeleton names struct itr_config: the ABI header comes first.
#include "iptables_trace/event.h"
#include "iptables_trace.skel.h"
#include "iptables_trace/diagnostics.hpp"
#include "iptables_trace/options.hpp"
#include "iptables_trace/resources.hpp"
#include "loader.hpp"
#include "module_image.hpp"

namespace itr {

using ModuleSkel = SkelPtr<struct iptables_trace_bpf>;

// nft: load the nft_do_chain programs too (the function exists).
// nft_marked: our nftables table marks the filtered packets (ITR_MODE_MODULE_NFT).
Result<ModuleSkel> load_module_programs(const Options& opts, const Layouts& l, std::optional<uint32_t> netns,
                                        bool nft, bool nft_marked, Diagnostics& diag);

// Pins the programs the module runs (the ip6t ones when ip6t_do_table is
// probed) under the names event.h gives them.
Status pin_module_programs(struct iptables_trace_bpf& skel, PinDir& pins, bool ip6t);

}  // namespace itr
