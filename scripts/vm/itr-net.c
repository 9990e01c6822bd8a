/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * itr-net: a tiny, bounded traffic tool for the VM scenarios, where busybox
 * lacks UDP in nc and a way to choose ports or the ICMP echo id.
 * Built static by scripts/vm/mkinitramfs.sh; numeric addresses only.
 *
 *   itr-net udp ADDR PORT [SPORT [COUNT [SIZE [HBH]]]]
 *                                               send COUNT (1) datagrams "itr\n" (padded to
 *                                               SIZE bytes, at most 60000: larger than the
 *                                               MTU makes fragments); HBH=1 adds an IPv6
 *                                               Hop-by-Hop header (8 bytes, PadN)
 *   itr-net udp-recv ADDR PORT TIMEOUT          wait for one datagram, print it
 *   itr-net tcp ADDR PORT [SPORT [TIMEOUT]]     connect, send "itr\n", close
 *                                               exit 0 connected, 3 refused/reset, 4 timeout
 *   itr-net tcp-serve ADDR PORT TIMEOUT [N]     accept N (1) connections, read, close
 *   itr-net ping ADDR ID [COUNT [TIMEOUT]]      ICMP/ICMPv6 echo with this id, seq 1..COUNT;
 *                                               exit 0 if every request got a reply, 1 otherwise
 * For the benchmarks (bench/vm/):
 *   itr-net udp-timed ADDR PORT SPORT COUNT     send COUNT (at most 10^6) datagrams, print
 *                                               "sent N ns T" (CLOCK_MONOTONIC time taken)
 *   itr-net now                                 print CLOCK_MONOTONIC in ns
 *   itr-net wait-file PATH TIMEOUT              wait (1 ms steps) until PATH exists, print
 *                                               CLOCK_MONOTONIC ns then; exit 4 on timeout
 *   itr-net kill-wait PID SIG TIMEOUT           send SIG, wait (1 ms steps) until PID has
 *                                               exited (gone or zombie), print the ns it took
 *
 * SPORT 0 lets the kernel choose. Every wait is bounded by TIMEOUT seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
	fprintf(stderr, "itr-net: %s: %s\n", what, strerror(errno));
	return 1;
}

static int parse_addr(const char *s, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return AF_INET6;
	}
	fprintf(stderr, "itr-net: not a numeric address: %s\n", s);
	exit(2);
}

static int bind_port(int fd, int family, unsigned port, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	if (!port && !addr)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr) {
		parse_addr(addr, port, &ss, &len);
	} else {
		memset(&ss, 0, sizeof(ss));
		ss.ss_family = family;
		if (family == AF_INET) {
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
			len = sizeof(struct sockaddr_in);
		} else {
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
			len = sizeof(struct sockaddr_in6);
		}
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	return poll(&p, 1, timeout_ms);
}

static long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static unsigned arg(int argc, char **argv, int i, unsigned dflt)
{
	return i < argc ? (unsigned)strtoul(argv[i], NULL, 0) : dflt;
}

static int cmd_udp(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse_addr(argv[2], arg(argc, argv, 3, 0), &ss, &len);
	unsigned sport = arg(argc, argv, 4, 0), count = arg(argc, argv, 5, 1);
	unsigned size = arg(argc, argv, 6, 4), hbh = arg(argc, argv, 7, 0);
	static char buf[60000] = "itr\n";
	int fd = socket(fam, SOCK_DGRAM, 0);

	if (fd < 0)
		return die("socket");
	if (size < 4 || size > sizeof(buf))
		return fprintf(stderr, "itr-net: SIZE 4..%zu\n", sizeof(buf)), 2;
	if (hbh) {
		/* next header (filled in), length 0 (8 bytes), PadN of 4 */
		static const unsigned char opt[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };

		if (fam != AF_INET6)
			return fprintf(stderr, "itr-net: HBH needs an IPv6 address\n"), 2;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, opt, sizeof(opt)) < 0)
			return die("IPV6_HOPOPTS");
	}
	if (bind_port(fd, fam, sport, NULL) < 0)
		return die("bind");
	for (unsigned i = 0; i < count && i < 10000; i++)
		if (sendto(fd, buf, size, 0, (struct sockaddr *)&ss, len) < 0)
			return die("sendto");
	return 0;
}

static int cmd_udp_recv(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse_addr(argv[2], arg(argc, argv, 3, 0), &ss, &len);
	int fd = socket(fam, SOCK_DGRAM, 0);
	char buf[2048];
	ssize_t n;

	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0)
		return die("bind");
	if (wait_fd(fd, POLLIN, (int)arg(argc, argv, 4, 5) * 1000) <= 0) {
		fprintf(stderr, "itr-net: udp-recv: timeout\n");
		return 4;
	}
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return die("recv");
	fwrite(buf, 1, (size_t)n, stdout);
	return 0;
}

static int cmd_tcp(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse_addr(argv[2], arg(argc, argv, 3, 0), &ss, &len);
	unsigned sport = arg(argc, argv, 4, 0), tmo = arg(argc, argv, 5, 5);
	int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
	socklen_t elen = sizeof(err);

	if (fd < 0)
		return die("socket");
	if (bind_port(fd, fam, sport, NULL) < 0)
		return die("bind");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		fprintf(stderr, "itr-net: connect: %s\n", strerror(errno));
		return errno == ECONNREFUSED || errno == ECONNRESET ? 3 : 1;
	}
	if (wait_fd(fd, POLLOUT, (int)tmo * 1000) <= 0) {
		fprintf(stderr, "itr-net: connect: timeout\n");
		return 4;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err) {
		fprintf(stderr, "itr-net: connect: %s\n", strerror(err));
		return err == ECONNREFUSED || err == ECONNRESET ? 3 : (err == ETIMEDOUT ? 4 : 1);
	}
	if (send(fd, "itr\n", 4, MSG_NOSIGNAL) < 0)
		return die("send");
	shutdown(fd, SHUT_WR);
	/* Wait (bounded) for the peer's close so the whole exchange is traced. */
	if (wait_fd(fd, POLLIN, (int)tmo * 1000) > 0) {
		char buf[256];
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
	}
	close(fd);
	puts("connected");
	return 0;
}

static int cmd_tcp_serve(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse_addr(argv[2], arg(argc, argv, 3, 0), &ss, &len);
	unsigned tmo = arg(argc, argv, 4, 5), n = arg(argc, argv, 5, 1);
	int fd = socket(fam, SOCK_STREAM, 0), one = 1;
	long deadline = ms_now() + (long)tmo * 1000;

	if (fd < 0)
		return die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 8) < 0)
		return die("bind/listen");
	for (unsigned i = 0; i < n; i++) {
		long left = deadline - ms_now();
		char buf[256];
		int c;

		if (left <= 0 || wait_fd(fd, POLLIN, (int)left) <= 0) {
			fprintf(stderr, "itr-net: tcp-serve: timeout\n");
			return 4;
		}
		c = accept(fd, NULL, NULL);
		if (c < 0)
			return die("accept");
		while (wait_fd(c, POLLIN, 2000) > 0 && recv(c, buf, sizeof(buf), 0) > 0)
			;
		close(c);
	}
	return 0;
}

static unsigned short csum(const void *p, size_t n)
{
	const unsigned short *w = p;
	unsigned long s = 0;

	for (; n > 1; n -= 2)
		s += *w++;
	if (n)
		s += *(const unsigned char *)w;
	s = (s >> 16) + (s & 0xffff);
	s += s >> 16;
	return (unsigned short)~s;
}

static int cmd_ping(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse_addr(argv[2], 0, &ss, &len);
	unsigned id = arg(argc, argv, 3, 0x1234), count = arg(argc, argv, 4, 1);
	unsigned tmo = arg(argc, argv, 5, 2), replies = 0;
	int fd = fam == AF_INET ? socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
				: socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);

	if (fd < 0)
		return die("raw socket");
	if (count > 100)
		count = 100;
	for (unsigned seq = 1; seq <= count; seq++) {
		unsigned char pkt[64] = { 0 };
		long deadline;

		if (fam == AF_INET) {
			struct icmphdr *h = (struct icmphdr *)pkt;
			h->type = ICMP_ECHO;
			h->un.echo.id = htons(id);
			h->un.echo.sequence = htons(seq);
			h->checksum = csum(pkt, sizeof(pkt));
		} else {
			struct icmp6_hdr *h = (struct icmp6_hdr *)pkt;
			h->icmp6_type = ICMP6_ECHO_REQUEST;
			h->icmp6_id = htons(id);
			h->icmp6_seq = htons(seq);
			/* the kernel fills the ICMPv6 checksum on raw ICMPv6 sockets */
		}
		if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&ss, len) < 0)
			return die("sendto");
		deadline = ms_now() + (long)tmo * 1000;
		for (;;) {
			long left = deadline - ms_now();
			unsigned char buf[1500];
			ssize_t n;
			unsigned off = 0;

			if (left <= 0 || wait_fd(fd, POLLIN, (int)left) <= 0)
				break;
			n = recv(fd, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			if (fam == AF_INET) {
				off = (buf[0] & 0x0f) * 4u;
				if ((size_t)n < off + 8)
					continue;
				struct icmphdr *h = (struct icmphdr *)(buf + off);
				if (h->type == ICMP_ECHOREPLY && ntohs(h->un.echo.id) == id &&
				    ntohs(h->un.echo.sequence) == seq) {
					replies++;
					break;
				}
			} else {
				if (n < 8)
					continue;
				struct icmp6_hdr *h = (struct icmp6_hdr *)buf;
				if (h->icmp6_type == ICMP6_ECHO_REPLY && ntohs(h->icmp6_id) == id &&
				    ntohs(h->icmp6_seq) == seq) {
					replies++;
					break;
				}
			}
		}
	}
	printf("%u/%u replies\n", replies, count);
	return replies == count ? 0 : 1;
}

static long long ns_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmd_udp_timed(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam = parse_addr(argv[2], arg(argc, argv, 3, 0), &ss, &len);
	unsigned sport = arg(argc, argv, 4, 0), count = arg(argc, argv, 5, 1), sent = 0;
	int fd = socket(fam, SOCK_DGRAM, 0);
	long long t0;

	if (fd < 0)
		return die("socket");
	if (bind_port(fd, fam, sport, NULL) < 0)
		return die("bind");
	if (count > 1000000)
		count = 1000000;
	t0 = ns_now();
	for (unsigned i = 0; i < count; i++)
		if (sendto(fd, "itr\n", 4, 0, (struct sockaddr *)&ss, len) == 4)
			sent++;
	printf("sent %u ns %lld\n", sent, ns_now() - t0);
	return 0;
}

/* A process that has exited but was not reaped yet counts as gone. */
static int proc_gone(unsigned pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return !p || p[1] == 0 || p[2] == 'Z' || p[2] == 'X';
}

static int cmd_wait_file(int argc, char **argv)
{
	long long deadline = ns_now() + (long long)arg(argc, argv, 3, 5) * 1000000000LL;
	struct timespec ms = { 0, 1000000 };

	while (access(argv[2], F_OK) != 0) {
		if (ns_now() > deadline) {
			fprintf(stderr, "itr-net: wait-file: timeout\n");
			return 4;
		}
		nanosleep(&ms, NULL);
	}
	printf("%lld\n", ns_now());
	return 0;
}

static int cmd_kill_wait(int argc, char **argv)
{
	unsigned pid = arg(argc, argv, 2, 0);
	int sig = (int)arg(argc, argv, 3, 2);
	long long t0 = ns_now(), deadline = t0 + (long long)arg(argc, argv, 4, 20) * 1000000000LL;
	struct timespec ms = { 0, 1000000 };

	if (!pid || kill((pid_t)pid, sig) < 0)
		return die("kill");
	while (!proc_gone(pid)) {
		if (ns_now() > deadline) {
			fprintf(stderr, "itr-net: kill-wait: timeout\n");
			return 4;
		}
		nanosleep(&ms, NULL);
	}
	printf("%lld\n", ns_now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[1], "udp-timed"))
		return cmd_udp_timed(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "now"))
		return printf("%lld\n", ns_now()) < 0;
	if (argc >= 4 && !strcmp(argv[1], "wait-file"))
		return cmd_wait_file(argc, argv);
	if (argc >= 5 && !strcmp(argv[1], "kill-wait"))
		return cmd_kill_wait(argc, argv);
	if (argc >= 3 && !strcmp(argv[1], "udp"))
		return cmd_udp(argc, argv);
	if (argc >= 4 && !strcmp(argv[1], "udp-recv"))
		return cmd_udp_recv(argc, argv);
	if (argc >= 4 && !strcmp(argv[1], "tcp"))
		return cmd_tcp(argc, argv);
	if (argc >= 4 && !strcmp(argv[1], "tcp-serve"))
		return cmd_tcp_serve(argc, argv);
	if (argc >= 3 && !strcmp(argv[1], "ping"))
		return cmd_ping(argc, argv);
	fprintf(stderr, "usage: itr-net udp|udp-recv|tcp|tcp-serve|ping|udp-timed ADDR ... | now | wait-file | kill-wait (see source)\n");
	return 2;
}
