// The guard's pure parts: its command line, the owner's start time, and how
// it tells a released owner from a dead one. The process itself (fork, exec,
// cleanup after kill -9) is tested for real by tests/host/netlink_backend.sh.
#include <sys/prctl.h>
#include <sys/wait.h>

#include <csignal>
#include <unistd.h>

#include <gtest/gtest.h>

#include "../../src/guard.hpp"

namespace itr {
namespace {

std::optional<GuardArgs> parse(std::vector<std::string> words)
{
    std::vector<char*> argv;
    for (auto& w : words)
        argv.push_back(w.data());
    argv.push_back(nullptr);
    return parse_guard_args(static_cast<int>(words.size()), argv.data());
}

TEST(Guard, ParsesItsOwnCommandLineOnly)
{
    auto a = parse({"itr-guard", kGuardArg, "4", "1234", "98765"});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->fd, 4);
    EXPECT_EQ(a->owner, 1234);
    EXPECT_EQ(a->owner_start, 98765u);
    EXPECT_FALSE(parse({"itr-guard", kGuardArg, "4", "1234"}));
    EXPECT_FALSE(parse({"itr-guard", "--other", "4", "1234", "1"}));
    EXPECT_FALSE(parse({"itr-guard", kGuardArg, "-4", "1234", "1"}));
    EXPECT_FALSE(parse({"itr-guard", kGuardArg, "4", "0", "1"}));
    EXPECT_FALSE(parse({"itr-guard", kGuardArg, "4x", "1234", "1"}));
    EXPECT_FALSE(parse({"itr-guard", kGuardArg, "4", "99999999999", "1"}));
}

TEST(Guard, StartTimeOfThisProcessAndOfNone)
{
    auto me = process_start_time(getpid());
    ASSERT_TRUE(me);
    EXPECT_EQ(process_start_time(getpid()), me);
    EXPECT_FALSE(process_start_time(0x3fffff));  // above pid_max's ceiling: never a process
}

TEST(Guard, StartTimeOfAProcessWithAHostileName)
{
    // Two pipes: with one, the child could read back its own "ready" byte
    // and the parent would wait forever (it did, on a CI machine).
    int ready[2], hold[2];
    ASSERT_EQ(pipe(ready), 0);
    ASSERT_EQ(pipe(hold), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        prctl(PR_SET_NAME, "x) 9 9 (y", 0, 0, 0);
        close(ready[0]);
        close(hold[1]);
        char c;
        (void)!write(ready[1], "r", 1);
        (void)!read(hold[0], &c, 1);  // until the parent closes its end
        _exit(0);
    }
    close(ready[1]);
    close(hold[0]);
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
    const auto parent = process_start_time(getpid());
    const auto st = process_start_time(child);
    close(hold[1]);
    close(ready[0]);
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    ASSERT_TRUE(parent);
    ASSERT_TRUE(st);
    EXPECT_GE(*st, *parent);
    EXPECT_FALSE(process_start_time(child));  // reaped: gone, and no exception
}

TEST(Guard, AByteMeansReleased)
{
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(write(p[1], "R", 1), 1);
    close(p[1]);
    GuardArgs a{p[0], getpid(), process_start_time(getpid()).value_or(0)};
    EXPECT_EQ(wait_for_owner(a), OwnerEnd::Released);
    close(p[0]);
}

TEST(Guard, EndOfFileFromAGoneOwnerMeansDied)
{
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0)
        _exit(0);  // the owner: holds the write end, dies without a word
    const auto start = process_start_time(child);
    close(p[1]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    GuardArgs a{p[0], child, start.value_or(0)};
    EXPECT_EQ(wait_for_owner(a), OwnerEnd::Died);
    close(p[0]);
}

}  // namespace
}  // namespace itr
