// The module backend's BPF object: configured from the options and the
// argument layouts, loaded (the verifier's work said with -v), and the
// programs the module runs pinned where it looks for them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

// How nft_do_chain calls are followed (the module does not run these
// programs: libbpf attaches them). Trampolines where nf_tables has BTF
// (6.x): no trap, and no return probe for every call, as kprobes need.
enum class NftCalls { None, Kprobes, Fentry };

struct NftChoice {
    NftCalls how = NftCalls::None;
    std::string why;  // for -v and --check
};

// From whether nft_do_chain exists, its BTF (KernelBtf) and
// ITR_TABLE_PROBES (auto, fentry, kprobes: as for the bpf backend).
Result<NftChoice> choose_module_nft(bool nft_do_chain);

// nft: which nft_do_chain programs to load.
// nft_marked: our nftables table marks the filtered packets (ITR_MODE_MODULE_NFT);
// marks_every_filtered: before their first nf_tables chain, every one of
// them (6.0+, netlink::trace_id_safe_without_socket).
Result<ModuleSkel> load_module_programs(const Options& opts, const Layouts& l, std::optional<uint32_t> netns,
                                        NftCalls nft, bool nft_marked, bool marks_every_filtered,
                                        Diagnostics& diag);

// Pins the programs the module runs (the ip6t ones when ip6t_do_table is
// probed) under the names event.h gives them.
Status pin_module_programs(struct iptables_trace_bpf& skel, PinDir& pins, bool ip6t);

}  // namespace itr
