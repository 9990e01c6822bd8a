// modules.dep lookup: whether modprobe knows a module the kernel has not loaded
// (the netlink backend loads nfnetlink_log itself on Debian kernels).
#include <gtest/gtest.h>

#include "iptables_trace/resources.hpp"

namespace {

// Lines as Debian 5.10 (plain .ko) and 6.12 (.ko.xz) ship them.
constexpr const char* kDep =
    "kernel/net/netfilter/nfnetlink_log.ko: kernel/net/netfilter/nfnetlink.ko\n"
    "kernel/net/netfilter/nf_log_syslog.ko.xz: kernel/net/netfilter/nf_log_common.ko.xz\n"
    "kernel/net/ipv4/netfilter/ip_tables.ko.zst: kernel/net/netfilter/x_tables.ko.zst\n"
    "kernel/drivers/net/veth.ko:\n";

TEST(ModulesDep, FindsModulesWhateverTheCompression)
{
    EXPECT_TRUE(itr::modules_dep_lists(kDep, "nfnetlink_log"));
    EXPECT_TRUE(itr::modules_dep_lists(kDep, "nf_log_syslog"));
    EXPECT_TRUE(itr::modules_dep_lists(kDep, "ip_tables"));
    EXPECT_TRUE(itr::modules_dep_lists(kDep, "veth"));
}

TEST(ModulesDep, DashAndUnderscoreAreTheSame)
{
    EXPECT_TRUE(itr::modules_dep_lists(kDep, "nfnetlink-log"));
    EXPECT_TRUE(itr::modules_dep_lists("kernel/x/nf-foo.ko:\n", "nf_foo"));
}

TEST(ModulesDep, DependenciesAndPrefixesAreNotEntries)
{
    // nfnetlink and x_tables appear only as dependencies, not as entries.
    EXPECT_FALSE(itr::modules_dep_lists(kDep, "nfnetlink"));
    EXPECT_FALSE(itr::modules_dep_lists(kDep, "x_tables"));
    EXPECT_FALSE(itr::modules_dep_lists(kDep, "nfnetlink_lo"));
    EXPECT_FALSE(itr::modules_dep_lists(kDep, "ip_tables_extra"));
    EXPECT_FALSE(itr::modules_dep_lists("", "veth"));
    EXPECT_FALSE(itr::modules_dep_lists("no colon here veth.ko\n", "veth"));
}

}  // namespace
