// itr_nft_trace_capture: writes every message nf_tables sends to the
// NFNLGRP_NFTRACE group of one network namespace, as it arrived, one hex line
// per netlink message. The unit tests of the trace decoder read these files
// (tests/unit/data/nft-trace/<kernel>/*.hex).
//
//   itr_nft_trace_capture [-n NETNS_PATH] [-o FILE] [-c COUNT] [-t SECONDS] [-r READY_FILE]
//   itr_nft_trace_capture -D [-n NETNS_PATH] [-o FILE]
//
// -D   instead: the replies to one NFT_MSG_GETGEN and one NFT_MSG_GETRULE dump
//      (every rule of every table), in the same format, then exit
// -n   enter this netns first (/run/netns/NAME, /proc/PID/ns/net); default: our own
// -o   output file (default stdout); written line by line, flushed each time
// -c   stop after COUNT messages (default: no limit)
// -t   stop after SECONDS (default 30; every run is bounded)
// -r   create this file once the socket is subscribed (for scripts)
//
// Output: '#' lines are comments (kernel release, losses); every other line
// is one whole netlink message (nlmsghdr included) in lower-case hex.
// Exit status 0 when it stopped on -c, -t or SIGINT/SIGTERM, 1 on an error.
//
// Only libc and the kernel's UAPI headers, so that it links statically for
// the VM guests: g++ -static -O2 -o itr-nft-capture nft_trace_capture.cpp
#include <fcntl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

namespace {

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

int fail(const char* what)
{
    std::fprintf(stderr, "itr_nft_trace_capture: %s: %s\n", what, std::strerror(errno));
    return 1;
}

int usage()
{
    std::fprintf(stderr,
                 "usage: itr_nft_trace_capture [-n NETNS_PATH] [-o FILE] [-c COUNT] [-t SECONDS] "
                 "[-r READY_FILE]\n       itr_nft_trace_capture -D [-n NETNS_PATH] [-o FILE]\n");
    return 2;
}

double now_s()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void write_hex(std::FILE* out, const unsigned char* p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    std::string line;
    line.reserve(n * 2 + 1);
    for (size_t i = 0; i < n; ++i) {
        line.push_back(digits[p[i] >> 4]);
        line.push_back(digits[p[i] & 15]);
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), out);
}

// Sends one request and writes every reply message up to NLMSG_DONE (dump)
// or the first answer. Returns false on an error, said on stderr.
bool request(int sock, uint16_t msg_type, uint16_t flags, std::FILE* out)
{
    struct {
        nlmsghdr nlh;
        nfgenmsg nfg;
    } req{};
    req.nlh.nlmsg_len = sizeof req;
    req.nlh.nlmsg_type = uint16_t((NFNL_SUBSYS_NFTABLES << 8) | msg_type);
    req.nlh.nlmsg_flags = uint16_t(NLM_F_REQUEST | flags);
    req.nlh.nlmsg_seq = msg_type;
    req.nfg.nfgen_family = AF_UNSPEC;
    req.nfg.version = NFNETLINK_V0;
    if (send(sock, &req, sizeof req, 0) != ssize_t(sizeof req)) {
        fail("send");
        return false;
    }
    static unsigned char buf[1 << 16];
    for (;;) {
        const ssize_t len = recv(sock, buf, sizeof buf, 0);
        if (len < 0) {
            fail("recv");
            return false;
        }
        for (size_t off = 0; off + sizeof(nlmsghdr) <= size_t(len);) {
            nlmsghdr hdr;
            std::memcpy(&hdr, buf + off, sizeof hdr);
            if (hdr.nlmsg_len < sizeof hdr || off + hdr.nlmsg_len > size_t(len))
                return false;
            if (hdr.nlmsg_type == NLMSG_DONE)
                return true;
            if (hdr.nlmsg_type == NLMSG_ERROR) {
                nlmsgerr e;
                std::memcpy(&e, buf + off + sizeof hdr, sizeof e);
                errno = -e.error;
                if (e.error)
                    fail("netlink request");
                return e.error == 0;
            }
            write_hex(out, buf + off, hdr.nlmsg_len);
            if (!(flags & NLM_F_DUMP))
                return true;
            off += NLMSG_ALIGN(hdr.nlmsg_len);
        }
    }
}

}  // namespace

int main(int argc, char** argv)
{
    const char* netns = nullptr;
    const char* out_path = nullptr;
    const char* ready = nullptr;
    long count = -1;
    double timeout = 30;
    bool dump = false;
    int opt;
    while ((opt = getopt(argc, argv, "Dn:o:c:t:r:")) != -1) {
        switch (opt) {
        case 'D': dump = true; break;
        case 'n': netns = optarg; break;
        case 'o': out_path = optarg; break;
        case 'c': count = std::strtol(optarg, nullptr, 10); break;
        case 't': timeout = std::strtod(optarg, nullptr); break;
        case 'r': ready = optarg; break;
        default: return usage();
        }
    }
    if (optind != argc || timeout <= 0 || timeout > 3600)
        return usage();

    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    if (netns) {
        int fd = open(netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fail(netns);
        if (setns(fd, CLONE_NEWNET) != 0)
            return fail("setns");
        close(fd);
    }

    if (dump) {
        int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (sock < 0)
            return fail("socket(NETLINK_NETFILTER)");
        timeval tv{5, 0};
        setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        std::FILE* out = out_path ? std::fopen(out_path, "w") : stdout;
        if (!out)
            return fail(out_path);
        utsname un{};
        uname(&un);
        std::fprintf(out, "# NFT_MSG_NEWGEN, then NFT_MSG_NEWRULE of a dump, one per line, hex; kernel %s %s\n",
                     un.release, un.machine);
        const bool ok = request(sock, NFT_MSG_GETGEN, 0, out) && request(sock, NFT_MSG_GETRULE, NLM_F_DUMP, out);
        if (out != stdout)
            std::fclose(out);
        close(sock);
        return ok ? 0 : 1;
    }

    // A listener in the packet's netns is what makes nft_trace_notify() send.
    int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (sock < 0)
        return fail("socket(NETLINK_NETFILTER)");
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return fail("bind");
    int group = NFNLGRP_NFTRACE;
    if (setsockopt(sock, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) != 0)
        return fail("NETLINK_ADD_MEMBERSHIP NFNLGRP_NFTRACE");
    int rcvbuf = 8 << 20;
    setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);  // best effort

    std::FILE* out = stdout;
    if (out_path) {
        out = std::fopen(out_path, "w");
        if (!out)
            return fail(out_path);
    }
    utsname un{};
    uname(&un);
    std::fprintf(out, "# NFNLGRP_NFTRACE messages, one per line, hex; kernel %s %s\n", un.release, un.machine);
    std::fflush(out);

    if (ready) {
        int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return fail(ready);
        close(fd);
    }

    const double deadline = now_s() + timeout;
    long seen = 0;
    static unsigned char buf[1 << 16];
    while (!g_stop && (count < 0 || seen < count)) {
        const double left = deadline - now_s();
        if (left <= 0)
            break;
        pollfd pfd{sock, POLLIN, 0};
        const int n = poll(&pfd, 1, int(left * 1000) + 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail("poll");
        }
        if (n == 0)
            continue;
        const ssize_t len = recv(sock, buf, sizeof buf, MSG_DONTWAIT);
        if (len < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == ENOBUFS) {
                std::fprintf(out, "# lost: ENOBUFS\n");
                continue;
            }
            return fail("recv");
        }
        // One datagram may carry several messages; each gets its own line.
        size_t off = 0;
        while (off + sizeof(nlmsghdr) <= size_t(len) && (count < 0 || seen < count)) {
            nlmsghdr hdr;
            std::memcpy(&hdr, buf + off, sizeof hdr);
            if (hdr.nlmsg_len < sizeof(nlmsghdr) || off + hdr.nlmsg_len > size_t(len)) {
                std::fprintf(out, "# truncated datagram: %zd bytes, message at %zu says %u\n", len, off,
                             hdr.nlmsg_len);
                break;
            }
            write_hex(out, buf + off, hdr.nlmsg_len);
            ++seen;
            off += NLMSG_ALIGN(hdr.nlmsg_len);
        }
        std::fflush(out);
    }
    std::fprintf(out, "# end: %ld messages\n", seen);
    if (out != stdout)
        std::fclose(out);
    close(sock);
    return 0;
}
