// Durations as text, exactly as Go's time.Duration.String() writes them,
// because the original printed its cost column that way and users know it:
//   0 -> "0s", 999 -> "999ns", 36942 -> "36.942µs", 84420 -> "84.42µs",
//   1500000 -> "1.5ms", 2e9 -> "2s", 62.5e9 -> "1m2.5s", 3600e9 -> "1h0m0s".
// (µ is U+00B5 in UTF-8, as Go writes it.)
#pragma once

#include <cstdint>
#include <string>

namespace itr {

void append_go_duration(std::string& out, uint64_t ns);
std::string go_duration(uint64_t ns);

}  // namespace itr
