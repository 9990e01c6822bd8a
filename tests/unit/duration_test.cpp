#include <gtest/gtest.h>

#include "iptables_trace/duration.hpp"

using itr::go_duration;

TEST(GoDuration, MatchesGoString) {
    EXPECT_EQ(go_duration(0), "0s");
    EXPECT_EQ(go_duration(1), "1ns");
    EXPECT_EQ(go_duration(999), "999ns");
    EXPECT_EQ(go_duration(1000), "1\u00b5s");
    EXPECT_EQ(go_duration(1001), "1.001\u00b5s");
    EXPECT_EQ(go_duration(36942), "36.942\u00b5s");
    EXPECT_EQ(go_duration(84420), "84.42\u00b5s");
    EXPECT_EQ(go_duration(126368), "126.368\u00b5s");
    EXPECT_EQ(go_duration(40680), "40.68\u00b5s");
    EXPECT_EQ(go_duration(999999), "999.999\u00b5s");
    EXPECT_EQ(go_duration(1000000), "1ms");
    EXPECT_EQ(go_duration(1500000), "1.5ms");
    EXPECT_EQ(go_duration(1000001), "1.000001ms");
    EXPECT_EQ(go_duration(999999999), "999.999999ms");
    EXPECT_EQ(go_duration(1000000000), "1s");
    EXPECT_EQ(go_duration(2000000000), "2s");
    EXPECT_EQ(go_duration(1000000001), "1.000000001s");
    EXPECT_EQ(go_duration(59999999999), "59.999999999s");
    EXPECT_EQ(go_duration(60000000000), "1m0s");
    EXPECT_EQ(go_duration(62500000000), "1m2.5s");
    EXPECT_EQ(go_duration(3600000000000), "1h0m0s");
    EXPECT_EQ(go_duration(3723000000000), "1h2m3s");
    EXPECT_EQ(go_duration(UINT64_C(18446744073709551615)), "5124095h34m33.709551615s");
}

TEST(GoDuration, AppendsToExistingText) {
    std::string s = "cost=";
    itr::append_go_duration(s, 77425);
    EXPECT_EQ(s, "cost=77.425\u00b5s");
}
