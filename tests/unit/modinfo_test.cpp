// .modinfo parsing and the kernel-release check, on tiny ELF images built
// here (no real module binary in git).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "iptables_trace/event.h"
#include "iptables_trace/kmod_image.hpp"

namespace {

using itr::check_kmod_image;
using itr::kmod_matches_kernel;
using itr::kmod_vermagic_release;
using itr::parse_modinfo;

void put(std::vector<std::byte>& b, std::size_t off, std::uint64_t v, std::size_t n)
{
    if (b.size() < off + n)
        b.resize(off + n);
    for (std::size_t i = 0; i < n; i++)
        b[off + i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

void append(std::vector<std::byte>& b, const std::string& s)
{
    for (char c : s)
        b.push_back(static_cast<std::byte>(c));
}

struct Section {
    std::string name;
    std::string data;
    std::uint32_t type = 1;  // SHT_PROGBITS
};

// A minimal ELF64 LSB relocatable: header, section data, section headers
// (null, the given sections, .shstrtab last).
std::vector<std::byte> make_elf(const std::vector<Section>& sections)
{
    std::vector<std::byte> b(64);
    const unsigned char ident[] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    std::memcpy(b.data(), ident, sizeof(ident));
    put(b, 16, 1, 2);   // e_type ET_REL
    put(b, 18, 62, 2);  // e_machine EM_X86_64
    put(b, 20, 1, 4);   // e_version

    std::string shstrtab(1, '\0');
    std::vector<std::pair<std::size_t, std::size_t>> where;  // offset, size
    std::vector<std::size_t> name_off;
    for (const auto& s : sections) {
        name_off.push_back(shstrtab.size());
        shstrtab += s.name + '\0';
        where.emplace_back(b.size(), s.data.size());
        append(b, s.data);
    }
    const std::size_t strtab_name = shstrtab.size();
    shstrtab += std::string(".shstrtab") + '\0';
    const std::size_t strtab_off = b.size();
    append(b, shstrtab);
    while (b.size() % 8)
        b.push_back(std::byte{0});

    const std::size_t shoff = b.size();
    const std::size_t shnum = sections.size() + 2;
    b.resize(shoff + 64 * shnum);
    for (std::size_t i = 0; i < sections.size(); i++) {
        std::size_t h = shoff + 64 * (i + 1);
        put(b, h + 0, name_off[i], 4);
        put(b, h + 4, sections[i].type, 4);
        put(b, h + 24, where[i].first, 8);
        put(b, h + 32, where[i].second, 8);
    }
    std::size_t h = shoff + 64 * (shnum - 1);
    put(b, h + 0, strtab_name, 4);
    put(b, h + 4, 3, 4);  // SHT_STRTAB
    put(b, h + 24, strtab_off, 8);
    put(b, h + 32, shstrtab.size(), 8);

    put(b, 0x28, shoff, 8);
    put(b, 0x34, 64, 2);  // e_ehsize
    put(b, 0x3a, 64, 2);  // e_shentsize
    put(b, 0x3c, shnum, 2);
    put(b, 0x3e, shnum - 1, 2);
    return b;
}

std::string modinfo(const std::vector<std::string>& entries)
{
    std::string s;
    for (const auto& e : entries)
        s += e + std::string(1, '\0');
    return s;
}

std::vector<std::byte> our_module(const std::string& vermagic, const std::string& abi = std::to_string(ITR_ABI_VERSION))
{
    // Padding NULs between entries, as modpost's alignment leaves them.
    std::string mi = modinfo({"license=GPL", "itr_abi=" + abi}) + std::string(3, '\0') +
                     modinfo({"parm=pin_dir:bpffs folder", "parmtype=pin_dir:charp", "parmtype=abi:int",
                              "depends=", "retpoline=Y", "name=iptables_trace", "vermagic=" + vermagic});
    return make_elf({{".text", "\xc3"}, {".modinfo", mi}, {".bss", "", 8}});
}

TEST(Modinfo, ParsesEntriesInOrder)
{
    auto img = our_module("6.1.0-56-amd64 SMP preempt mod_unload modversions ");
    auto info = parse_modinfo(img);
    ASSERT_TRUE(info.ok()) << info.error().what;
    EXPECT_EQ(info->name(), "iptables_trace");
    EXPECT_EQ(info->vermagic(), "6.1.0-56-amd64 SMP preempt mod_unload modversions ");
    EXPECT_EQ(info->release(), "6.1.0-56-amd64");
    EXPECT_EQ(info->get("license"), "GPL");
    EXPECT_EQ(info->get("depends"), "");
    EXPECT_FALSE(info->get("nonexistent").has_value());
    EXPECT_EQ(info->get_all("parmtype"), (std::vector<std::string>{"pin_dir:charp", "abi:int"}));
    EXPECT_EQ(info->get("parm"), "pin_dir:bpffs folder");  // only the first '=' splits
    EXPECT_EQ(info->entries.front().first, "license");
}

TEST(Modinfo, VermagicRelease)
{
    EXPECT_EQ(itr::vermagic_release("5.10.0-32-amd64 SMP mod_unload modversions "), "5.10.0-32-amd64");
    EXPECT_EQ(itr::vermagic_release("6.12.95+deb12-amd64"), "6.12.95+deb12-amd64");
    EXPECT_EQ(itr::vermagic_release("  6.1.0-56-amd64 SMP"), "6.1.0-56-amd64");
    EXPECT_EQ(itr::vermagic_release(""), "");
    EXPECT_EQ(kmod_vermagic_release(our_module("6.1.0-56-amd64 SMP")), "6.1.0-56-amd64");
}

TEST(Modinfo, RejectsWhatIsNotAModule)
{
    std::vector<std::byte> empty;
    EXPECT_FALSE(parse_modinfo(empty).ok());
    EXPECT_FALSE(kmod_vermagic_release(empty).has_value());

    std::vector<std::byte> text(100, std::byte{'x'});
    auto r = parse_modinfo(text);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("not an ELF"), std::string::npos);

    auto no_modinfo = make_elf({{".text", "\xc3"}});
    r = parse_modinfo(no_modinfo);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("no .modinfo"), std::string::npos);

    auto elf32 = our_module("6.1.0-56-amd64");
    elf32[4] = std::byte{1};
    EXPECT_FALSE(parse_modinfo(elf32).ok());

    std::vector<std::byte> xz = {std::byte{0xfd}, std::byte{'7'}, std::byte{'z'}, std::byte{'X'},
                                 std::byte{'Z'}, std::byte{0}};
    xz.resize(128);
    r = parse_modinfo(xz);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("xz"), std::string::npos);
}

TEST(Modinfo, SurvivesTruncationAndCorruption)
{
    auto img = our_module("6.1.0-56-amd64 SMP");
    // Every prefix must parse or fail cleanly, never read out of bounds.
    for (std::size_t n = 0; n < img.size(); n += 7) {
        std::vector<std::byte> cut(img.begin(), img.begin() + static_cast<std::ptrdiff_t>(n));
        (void)parse_modinfo(cut);
    }
    // Section header table offset far outside the file.
    auto bad = img;
    put(bad, 0x28, ~std::uint64_t{0} - 10, 8);
    EXPECT_FALSE(parse_modinfo(bad).ok());
    // Section string table index out of range.
    bad = img;
    put(bad, 0x3e, 0xffff, 2);
    EXPECT_FALSE(parse_modinfo(bad).ok());
    // .modinfo with no terminating NUL: the last entry is still read.
    auto open_ended = make_elf({{".modinfo", "name=iptables_trace"}});
    auto info = parse_modinfo(open_ended);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->name(), "iptables_trace");
}

TEST(Modinfo, MatchesRunningKernel)
{
    auto info = parse_modinfo(our_module("6.1.0-56-amd64 SMP preempt mod_unload modversions "));
    ASSERT_TRUE(info.ok());
    EXPECT_TRUE(kmod_matches_kernel(*info, "6.1.0-56-amd64").ok());

    auto st = kmod_matches_kernel(*info, "6.1.0-57-amd64");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("built for kernel 6.1.0-56-amd64"), std::string::npos) << st.error().what;
    EXPECT_NE(st.error().what.find("this is 6.1.0-57-amd64"), std::string::npos) << st.error().what;
    EXPECT_NE(st.error().hint.find("--kmod"), std::string::npos);

    // A prefix is not a match.
    EXPECT_FALSE(kmod_matches_kernel(*info, "6.1.0-56").ok());
}

TEST(Modinfo, CheckImage)
{
    EXPECT_TRUE(check_kmod_image(our_module("6.1.0-56-amd64 SMP"), "6.1.0-56-amd64").ok());

    auto st = check_kmod_image({}, "6.1.0-56-amd64");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("carries no kernel module"), std::string::npos);

    st = check_kmod_image(our_module("6.1.0-56-amd64 SMP", "999"), "6.1.0-56-amd64");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("ABI 999"), std::string::npos);

    auto other = make_elf({{".modinfo", modinfo({"name=nf_tables", "vermagic=6.1.0-56-amd64 SMP"})}});
    st = check_kmod_image(other, "6.1.0-56-amd64");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("nf_tables"), std::string::npos);

    st = check_kmod_image(our_module("5.10.0-32-amd64 SMP"), "6.1.0-56-amd64");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().what.find("5.10.0-32-amd64"), std::string::npos);
}

TEST(Modinfo, EmbeddedImageIsConsistent)
{
    auto img = itr::embedded_kmod();
    EXPECT_FALSE(itr::embedded_kmod_build_info().empty());
    if (img.empty())
        GTEST_SKIP() << itr::embedded_kmod_build_info();
    auto info = parse_modinfo(img);
    ASSERT_TRUE(info.ok()) << info.error().what;
    EXPECT_EQ(info->name(), ITR_MODULE_NAME);
    EXPECT_EQ(info->get("itr_abi"), std::to_string(ITR_ABI_VERSION));
    EXPECT_EQ(info->get("license"), "GPL");
    EXPECT_NE(itr::embedded_kmod_build_info().find(info->release()), std::string::npos);
}

}  // namespace
