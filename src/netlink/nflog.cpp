// The nfnetlink_log group 0 subscription (where ip_tables' TRACE goes).
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "internal.hpp"

namespace itr::netlink {

namespace {

// Sends one NFULNL_MSG_CONFIG for group 0 and waits for its ack; 0 or an errno.
int config(mnl_socket* nl, uint8_t command, bool with_params, bool copy_packets = true)
{
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    static uint32_t seq_counter = 1;
    nlh->nlmsg_seq = seq_counter++;
    auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(0);  // group 0
    if (command != NFULNL_CFG_CMD_NONE) {
        nfulnl_msg_config_cmd cmd{command};
        mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof cmd, &cmd);
    }
    if (with_params) {
        // Whole packets are not needed: the headers we decode fit in 256 bytes
        // (IPv6 with a few extension headers).
        nfulnl_msg_config_mode mode{};
        // A backend that reads TRACE some other way holds the group only so
        // that nobody else gets our records: metadata only, nothing copied.
        mode.copy_range = htonl(copy_packets ? 256 : 0);
        mode.copy_mode = copy_packets ? NFULNL_COPY_PACKET : NFULNL_COPY_META;
        mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof mode, &mode);
        mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
        // One record per message, sent at once: nf_tables trace events come
        // on the same socket as they happen, and a batched record would
        // reach the queue after the nf_tables events of later hooks of the
        // same packet (out of order). The buffer is sized for one record
        // (the kernel allocates NLBUFSIZ for each message).
        mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
        mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(1));
        mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(1024));
    }
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return errno;
    for (;;) {
        // A signal is not a timeout: poll_readable waits on through EINTR.
        const int pr = poll_readable(mnl_socket_get_fd(nl), 3000);
        if (pr < 0)
            return errno;
        if (pr == 0)
            return ETIMEDOUT;
        const ssize_t n = recv_retrying(nl, buf.data(), buf.size());
        if (n < 0)
            return errno;
        int len = static_cast<int>(n);
        for (auto* r = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(r, len); r = mnl_nlmsg_next(r, &len)) {
            if (r->nlmsg_type != NLMSG_ERROR || r->nlmsg_seq != nlh->nlmsg_seq)
                continue;  // a packet record that raced in: not ours to read here
            const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(r));
            return -e->error;
        }
    }
}

}  // namespace

Result<NflogGroup> NflogGroup::bind(int rcvbuf_bytes, bool copy_packets)
{
    auto sock = open_netfilter_socket();
    if (!sock)
        return sock.error();
    NflogGroup g;
    g.sock_ = std::move(*sock);
    const int fd = g.sock_.fd();
    if (rcvbuf_bytes > 0) {
        // FORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); fall back.
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_bytes, sizeof rcvbuf_bytes) < 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes);
    }
    socklen_t sl = sizeof g.rcvbuf_;
    (void)getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &g.rcvbuf_, &sl);

    if (const int err = config(g.sock_.get(), NFULNL_CFG_CMD_BIND, false); err != 0) {
        // Another port's instance answers EPERM (EBUSY when two binds race).
        const auto holder = group0_holder();
        if (err == EBUSY || (err == EPERM && holder)) {
            return Error{fmt::format("nfnetlink_log group 0 is already taken{}",
                                     holder ? " by " + *holder : std::string()),
                         "only one program per netns can receive TRACE records; stop it (often ulogd, or another "
                         "iptables-trace) or use --backend module"};
        }
        return Error{"bind nfnetlink_log group 0: " + errno_text(err), ""};
    }
    if (const int err = config(g.sock_.get(), NFULNL_CFG_CMD_NONE, true, copy_packets); err != 0)
        return Error{"configure nfnetlink_log group 0: " + errno_text(err), ""};
    return g;
}

// Closing the socket releases group 0: the kernel destroys the instances of
// a netlink port when it goes away (an explicit UNBIND could wait behind a
// full receive queue, and its ack could be lost to ENOBUFS).
NflogGroup::~NflogGroup() = default;

}  // namespace itr::netlink
