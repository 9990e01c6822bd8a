// The kernel module this binary carries, and what its .modinfo says.
//
// The build embeds kmod/iptables_trace.ko (built against ITR_KERNEL_BUILD)
// in the binary; a build without kernel headers embeds nothing and the
// module backend then needs --kmod PATH. The parsing helpers are pure: they
// take a module file as bytes and never touch the running kernel, except
// running_kernel_release(), which asks uname(2).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iptables_trace/result.hpp"

namespace itr {

// The embedded module file, empty when the binary carries none.
std::span<const std::byte> embedded_kmod();

// How the embedded module was built, for --version and error messages:
// "iptables_trace.ko for 6.1.0-56-amd64 (headers: /lib/modules/.../build)",
// or "no kernel module embedded (built without kernel headers)".
std::string embedded_kmod_build_info();

// The key=value strings of a module's .modinfo section, in file order.
struct ModInfo {
    std::vector<std::pair<std::string, std::string>> entries;

    // First value of key, if present.
    std::optional<std::string> get(std::string_view key) const;
    // Every value of key (parm, parmtype, alias, ... repeat).
    std::vector<std::string> get_all(std::string_view key) const;

    std::string name() const { return get("name").value_or(""); }
    std::string vermagic() const { return get("vermagic").value_or(""); }
    // The kernel release the module was built for: vermagic's first word.
    std::string release() const;
};

// Parses the .modinfo section of a module image (a 64-bit little-endian
// ELF relocatable, i.e. an uncompressed .ko).
Result<ModInfo> parse_modinfo(std::span<const std::byte> image);

// The first word of vermagic ("6.1.0-56-amd64 SMP preempt ..." -> "6.1.0-56-amd64").
std::string vermagic_release(std::string_view vermagic);

// Shortcut: the release a module image was built for, nullopt if its
// .modinfo cannot be read or has no vermagic.
std::optional<std::string> kmod_vermagic_release(std::span<const std::byte> image);

// Whether a parsed module fits the running kernel release: ok, or an Error
// whose what/hint say what was built for which kernel and how to fix it.
Status kmod_matches_kernel(const ModInfo& info, std::string_view running_release);

// Full check of a module image before inserting it: readable .modinfo, our
// module name, our ABI version (the itr_abi tag), and the kernel release.
Status check_kmod_image(std::span<const std::byte> image, std::string_view running_release);

// uname -r of the running kernel ("" if uname fails).
std::string running_kernel_release();

}  // namespace itr
