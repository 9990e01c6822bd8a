// .modinfo parsing of a kernel module image: a small, bounds-checked ELF64
// section walk, no libelf (the bytes may come from anywhere: --kmod PATH).
#include <sys/utsname.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "iptables_trace/event.h"
#include "iptables_trace/kmod_image.hpp"

namespace itr {
namespace {

// ELF64 layout facts (System V gABI), little-endian only: x86-64 modules.
constexpr std::size_t kEhdrSize = 64;
constexpr std::size_t kShdrMinSize = 64;
constexpr std::size_t kEiClass = 4, kEiData = 5;
constexpr std::uint8_t kElfClass64 = 2, kElfData2Lsb = 1;
constexpr std::size_t kEShoff = 0x28, kEShentsize = 0x3a, kEShnum = 0x3c, kEShstrndx = 0x3e;
constexpr std::size_t kShName = 0, kShType = 4, kShOffset = 24, kShSize = 32;
constexpr std::uint32_t kShtNobits = 8;

template <typename T>
T load_le(std::span<const std::byte> b, std::size_t off)
{
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); i++)
        v |= static_cast<T>(std::to_integer<std::uint8_t>(b[off + i])) << (8 * i);
    return v;
}

bool in_bounds(std::span<const std::byte> b, std::uint64_t off, std::uint64_t len)
{
    return off <= b.size() && len <= b.size() - off;
}

Error bad(const std::string& why)
{
    return Error{"reading the module's .modinfo: " + why, ""};
}

}  // namespace

std::optional<std::string> ModInfo::get(std::string_view key) const
{
    for (const auto& [k, v] : entries)
        if (k == key)
            return v;
    return std::nullopt;
}

std::vector<std::string> ModInfo::get_all(std::string_view key) const
{
    std::vector<std::string> out;
    for (const auto& [k, v] : entries)
        if (k == key)
            out.push_back(v);
    return out;
}

std::string ModInfo::release() const
{
    return vermagic_release(vermagic());
}

Result<ModInfo> parse_modinfo(std::span<const std::byte> image)
{
    if (image.size() < kEhdrSize)
        return bad("file too short for an ELF header (" + std::to_string(image.size()) + " bytes)");
    static const unsigned char magic[4] = {0x7f, 'E', 'L', 'F'};
    if (std::memcmp(image.data(), magic, sizeof(magic)) != 0) {
        static const unsigned char xz[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
        if (std::memcmp(image.data(), xz, sizeof(xz)) == 0)
            return Error{"reading the module's .modinfo: the file is xz-compressed",
                         "decompress it first (xz -d FILE.ko.xz)"};
        return bad("not an ELF file");
    }
    if (std::to_integer<std::uint8_t>(image[kEiClass]) != kElfClass64 ||
        std::to_integer<std::uint8_t>(image[kEiData]) != kElfData2Lsb)
        return bad("not a 64-bit little-endian ELF file");

    const auto shoff = load_le<std::uint64_t>(image, kEShoff);
    const auto shentsize = load_le<std::uint16_t>(image, kEShentsize);
    const auto shnum = load_le<std::uint16_t>(image, kEShnum);
    const auto shstrndx = load_le<std::uint16_t>(image, kEShstrndx);
    if (shnum == 0 || shentsize < kShdrMinSize)
        return bad("no usable section headers");
    if (!in_bounds(image, shoff, std::uint64_t{shnum} * shentsize))
        return bad("section headers lie outside the file");
    if (shstrndx >= shnum)
        return bad("bad section name table index");

    auto shdr = [&](std::size_t i) { return image.subspan(shoff + i * shentsize, shentsize); };
    auto section = [&](std::size_t i) -> std::optional<std::span<const std::byte>> {
        auto h = shdr(i);
        auto off = load_le<std::uint64_t>(h, kShOffset);
        auto size = load_le<std::uint64_t>(h, kShSize);
        if (load_le<std::uint32_t>(h, kShType) == kShtNobits || !in_bounds(image, off, size))
            return std::nullopt;
        return image.subspan(off, size);
    };

    auto names = section(shstrndx);
    if (!names)
        return bad("section name table lies outside the file");

    for (std::size_t i = 0; i < shnum; i++) {
        auto name_off = load_le<std::uint32_t>(shdr(i), kShName);
        if (name_off >= names->size())
            continue;
        auto rest = names->subspan(name_off);
        const char* s = reinterpret_cast<const char*>(rest.data());
        std::string_view name(s, strnlen(s, rest.size()));
        if (name != ".modinfo")
            continue;

        auto data = section(i);
        if (!data)
            return bad(".modinfo lies outside the file");
        ModInfo info;
        const char* p = reinterpret_cast<const char*>(data->data());
        std::size_t n = data->size(), pos = 0;
        while (pos < n) {
            std::size_t len = strnlen(p + pos, n - pos);
            std::string_view entry(p + pos, len);
            pos += len + 1;
            if (entry.empty())
                continue;  // alignment padding between entries
            auto eq = entry.find('=');
            if (eq == std::string_view::npos)
                info.entries.emplace_back(std::string(entry), "");
            else
                info.entries.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        }
        return info;
    }
    return bad("no .modinfo section (is this a kernel module?)");
}

std::string vermagic_release(std::string_view vermagic)
{
    auto start = vermagic.find_first_not_of(' ');
    if (start == std::string_view::npos)
        return "";
    auto end = vermagic.find(' ', start);
    return std::string(vermagic.substr(start, end == std::string_view::npos ? end : end - start));
}

std::optional<std::string> kmod_vermagic_release(std::span<const std::byte> image)
{
    auto info = parse_modinfo(image);
    if (!info)
        return std::nullopt;
    auto rel = info->release();
    if (rel.empty())
        return std::nullopt;
    return rel;
}

Status kmod_matches_kernel(const ModInfo& info, std::string_view running_release)
{
    const std::string built = info.release();
    if (built.empty())
        return Error{"the kernel module has no vermagic in its .modinfo", "rebuild it with the kernel's kbuild"};
    if (built == running_release)
        return ok_status();
    return Error{"the kernel module was built for kernel " + built + ", this is " + std::string(running_release),
                 "rebuild iptables-trace on this kernel (with linux-headers-" + std::string(running_release) +
                     " installed, or -DITR_KERNEL_BUILD=<its kbuild tree>), or pass --kmod PATH"};
}

Status check_kmod_image(std::span<const std::byte> image, std::string_view running_release)
{
    if (image.empty())
        return Error{"this binary carries no kernel module (it was built without kernel headers)",
                     "pass --kmod PATH, or rebuild with linux-headers-" + std::string(running_release) + " installed"};
    auto info = parse_modinfo(image);
    if (!info)
        return info.error();
    if (info->name() != ITR_MODULE_NAME)
        return Error{"the kernel module is named '" + info->name() + "', not '" ITR_MODULE_NAME "'",
                     "pass the iptables_trace.ko built from this source tree"};
    const std::string want_abi = std::to_string(ITR_ABI_VERSION);
    auto abi = info->get("itr_abi");
    if (!abi || *abi != want_abi)
        return Error{"the kernel module speaks ABI " + abi.value_or("(none)") + ", this binary speaks ABI " + want_abi,
                     "use the iptables_trace.ko built from the same source tree as this binary"};
    return kmod_matches_kernel(*info, running_release);
}

std::string running_kernel_release()
{
    struct utsname u {};
    if (::uname(&u) != 0)
        return "";
    return u.release;
}

}  // namespace itr
