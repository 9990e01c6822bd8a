// Access to the module image that kmod/CMakeLists.txt assembles into
// .rodata (kmod_image.S, .incbin of the stripped iptables_trace.ko).
#include "iptables_trace/kmod_image.hpp"

extern "C" {
extern const unsigned char itr_kmod_image_start[];
extern const unsigned char itr_kmod_image_end[];
}

#ifndef ITR_KMOD_BUILD_INFO
#define ITR_KMOD_BUILD_INFO "no kernel module embedded"
#endif

namespace itr {

std::span<const std::byte> embedded_kmod()
{
    const auto* begin = reinterpret_cast<const std::byte*>(itr_kmod_image_start);
    const auto* end = reinterpret_cast<const std::byte*>(itr_kmod_image_end);
    return {begin, static_cast<std::size_t>(end - begin)};
}

std::string embedded_kmod_build_info()
{
    return ITR_KMOD_BUILD_INFO;
}

}  // namespace itr
