// -N: the one parser, and the resolver's answers that need no root.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "iptables_trace/netns.hpp"

using namespace itr;
using Kind = NetnsSpec::Kind;

TEST(Netns, ParsesEachKind) {
    auto ino = parse_netns_spec("4026531840");
    ASSERT_TRUE(ino.ok());
    EXPECT_EQ(ino->kind, Kind::Inode);
    EXPECT_EQ(ino->number, 4026531840u);
    EXPECT_EQ(netns_spec_path(*ino), "");

    auto pid = parse_netns_spec("pid:42");
    ASSERT_TRUE(pid.ok());
    EXPECT_EQ(pid->kind, Kind::Pid);
    EXPECT_EQ(pid->number, 42u);
    EXPECT_EQ(netns_spec_path(*pid), "/proc/42/ns/net");

    auto name = parse_netns_spec("blue");
    ASSERT_TRUE(name.ok());
    EXPECT_EQ(name->kind, Kind::Name);
    EXPECT_EQ(netns_spec_path(*name), "/var/run/netns/blue");

    auto path = parse_netns_spec("/proc/1/ns/net");
    ASSERT_TRUE(path.ok());
    EXPECT_EQ(path->kind, Kind::Path);
    EXPECT_EQ(netns_spec_path(*path), "/proc/1/ns/net");
    EXPECT_EQ(path->text, "/proc/1/ns/net");
}

TEST(Netns, RefusesWhatCanNeverNameANamespace) {
    struct Case {
        const char* text;
        const char* expect;
    } cases[] = {
        {"", "empty -N/--netns"},
        {"0", "invalid netns inode '0'"},
        {"4294967296", "invalid netns inode"},
        {"99999999999999999999999", "invalid netns inode"},
        {"pid:", "invalid pid in 'pid:'"},
        {"pid:0", "invalid pid in"},
        {"pid:abc", "invalid pid in"},
        {"pid:4194305", "1..4194304"},
        {"..", "invalid netns name"},
        {".", "invalid netns name"},
        {"a\nb", "control character"},
    };
    for (const auto& c : cases) {
        auto r = parse_netns_spec(c.text);
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_NE(r.error().what.find(c.expect), std::string::npos) << c.text << " -> " << r.error().what;
        EXPECT_EQ(r.error().what.find('\n'), std::string::npos) << c.text;
    }
    EXPECT_FALSE(parse_netns_spec(std::string(256, 'n')).ok());
    EXPECT_FALSE(parse_netns_spec("/" + std::string(4095, 'p')).ok());
    EXPECT_TRUE(parse_netns_spec(std::string(255, 'n')).ok());
}

// The rule both backends follow: an inode must name a namespace that exists.
TEST(Netns, AnInodeThatNamesNoNamespaceIsRefused) {
    struct stat st {};
    ASSERT_EQ(::stat("/proc/self/ns/net", &st), 0);
    auto own = open_netns(*parse_netns_spec(std::to_string(st.st_ino)));
    ASSERT_TRUE(own.ok()) << own.error().what;
    EXPECT_EQ(own->inode, uint32_t(st.st_ino));
    EXPECT_TRUE(own->fd);

    auto none = open_netns(*parse_netns_spec("1"));
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().what.find("-N 1: no network namespace has inode 1"), std::string::npos)
        << none.error().what;
}

TEST(Netns, APathMustBeANetworkNamespace) {
    auto own = open_netns(*parse_netns_spec("/proc/self/ns/net"));
    ASSERT_TRUE(own.ok()) << own.error().what;

    auto file = open_netns(*parse_netns_spec("/proc/self/status"));
    ASSERT_FALSE(file.ok());
    EXPECT_NE(file.error().what.find("is not a network namespace"), std::string::npos) << file.error().what;

    auto missing = open_netns(*parse_netns_spec("no-such-netns-itr-test"));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().what.find("-N no-such-netns-itr-test: /var/run/netns/no-such-netns-itr-test: "),
              std::string::npos)
        << missing.error().what;

    // Telling a uts namespace from a network one takes NS_GET_NSTYPE (4.11+).
    // qemu-user (the arm64 unit tests on an x86-64 machine) passes no ioctl
    // it does not know, and every nsfs file then looks alike.
    const int fd = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const int type = ::ioctl(fd, NS_GET_NSTYPE);
    const int err = errno;
    ::close(fd);
    if (type < 0)
        GTEST_SKIP() << "NS_GET_NSTYPE is not answered here (" << std::strerror(err)
                     << "): a uts namespace cannot be told from a network one";
    auto uts = open_netns(*parse_netns_spec("/proc/self/ns/uts"));
    ASSERT_FALSE(uts.ok());
}
