// The kernel module as a file: which image (--kmod or the embedded one),
// what it says about this kernel (vermagic, the table functions' argument
// layouts in its .modinfo), and the parameters it is inserted with.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "iptables_trace/event.h"
#include "iptables_trace/options.hpp"
#include "iptables_trace/preflight.hpp"
#include "iptables_trace/result.hpp"

namespace itr {

struct ModuleImage {
    std::vector<std::byte> owned;  // --kmod's file; empty for the embedded one
    std::span<const std::byte> bytes;
    std::string origin;            // the path, or "embedded"
};

Result<ModuleImage> module_image(const Options& opts);

// The kernel's facts plus what the image says (present, vermagic).
KernelFacts facts_with_image(const ModuleImage& img);

// Where ipt_do_table / ip6t_do_table take their arguments, and who said so.
struct Layouts {
    itr_arg_layout ipt{};
    itr_arg_layout ip6t{};
    std::string ipt_source, ip6t_source;
};

// From the image's .modinfo, when it carries both layouts: no BTF parse,
// the slowest part of start-up under an emulated CPU, and the headers the
// module was built against are this kernel's. The image must already be
// known to fit this kernel.
std::optional<Layouts> layouts_from_image(const ModuleImage& img, const KernelFacts& f);
// From kernel BTF (or the release where BTF cannot tell).
Result<Layouts> layouts_from_btf(const KernelFacts& f);
// The image's answer, else BTF's.
Result<Layouts> detect_layouts(const ModuleImage& img, const KernelFacts& f);
bool same_layout(const itr_arg_layout& a, const itr_arg_layout& b);

// "pin_dir=... abi=N ipt_skb_arg=N ip6t_skb_arg=N nft_marked=B" for the
// insertion (nft_marked: our nftables table marks the filtered packets).
std::string module_params(const std::string& pin_dir, const Layouts& l, bool nft_marked);

}  // namespace itr
