/*
 * What servers ask of their sockets, from an ordinary C program over 127.0.0.1:
 * sendmmsg and recvmmsg (as raw system calls: musl's 64-bit sendmmsg wrapper loops over
 * sendmsg instead), IP_TOS, SO_REUSEPORT (two TCP listeners and two UDP sockets on one port,
 * arrivals spread among them, EADDRINUSE for a socket without it) and TCP_DEFER_ACCEPT (no
 * connection to accept before its data). Prints one line per failed check and
 * "sockopts: all checks passed" at the end; exit status 0 only then.
 *
 * Built by tests/linux_programs.rs with musl-gcc -static and with gcc (glibc); the same
 * binary is also run on the host's Linux, which must agree.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("sockopts: FAILED: " __VA_ARGS__);          \
			printf(" (errno %d: %s)\n", errno, strerror(errno)); \
			failures++;                                        \
		}                                                          \
	} while (0)

#define CLIENTS 32

static long sys_sendmmsg(int fd, struct mmsghdr *v, unsigned n, unsigned flags)
{
	return syscall(SYS_sendmmsg, fd, v, n, flags);
}

static long sys_recvmmsg(int fd, struct mmsghdr *v, unsigned n, unsigned flags,
			 struct timespec *t)
{
	return syscall(SYS_recvmmsg, fd, v, n, flags, t);
}

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return 0;
	return ntohs(a.sin_port);
}

static int get_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof v;
	if (getsockopt(fd, level, name, &v, &len) != 0)
		return -1;
	return v;
}

static int set_int(int fd, int level, int name, int v)
{
	return setsockopt(fd, level, name, &v, sizeof v);
}

static int udp_bound(uint16_t port, int reuseport)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = loopback(port);
	if (fd < 0)
		return -1;
	if (reuseport)
		set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void mmsg(void)
{
	int rx = udp_bound(0, 0), tx = udp_bound(0, 0);
	CHECK(rx >= 0 && tx >= 0, "udp sockets");
	if (rx < 0 || tx < 0)
		return;
	struct sockaddr_in to = loopback(port_of(rx));
	char a[] = "first", b1[] = "sec", b2[] = "ond!", c[] = "3";
	struct iovec iov[4] = {
		{ a, 5 }, { b1, 3 }, { b2, 4 }, { c, 1 },
	};
	struct mmsghdr out[3];
	memset(out, 0, sizeof out);
	for (int i = 0; i < 3; i++) {
		out[i].msg_hdr.msg_name = &to;
		out[i].msg_hdr.msg_namelen = sizeof to;
		out[i].msg_len = 12345;
	}
	out[0].msg_hdr.msg_iov = &iov[0];
	out[0].msg_hdr.msg_iovlen = 1;
	out[1].msg_hdr.msg_iov = &iov[1];
	out[1].msg_hdr.msg_iovlen = 2;
	out[2].msg_hdr.msg_iov = &iov[3];
	out[2].msg_hdr.msg_iovlen = 1;
	long n = sys_sendmmsg(tx, out, 3, 0);
	CHECK(n == 3, "sendmmsg sent %ld of 3", n);
	CHECK(out[0].msg_len == 5 && out[1].msg_len == 7 && out[2].msg_len == 1,
	      "sendmmsg msg_len %u %u %u", out[0].msg_len, out[1].msg_len, out[2].msg_len);

	char bufs[4][16];
	struct iovec riov[4];
	struct sockaddr_in from[4];
	struct mmsghdr in[4];
	memset(in, 0, sizeof in);
	memset(from, 0, sizeof from);
	for (int i = 0; i < 4; i++) {
		riov[i].iov_base = bufs[i];
		riov[i].iov_len = sizeof bufs[i];
		in[i].msg_hdr.msg_iov = &riov[i];
		in[i].msg_hdr.msg_iovlen = 1;
		in[i].msg_hdr.msg_name = &from[i];
		in[i].msg_hdr.msg_namelen = sizeof from[i];
	}
	/* MSG_WAITFORONE: block for the first, then take what is there (three). */
	n = sys_recvmmsg(rx, in, 4, MSG_WAITFORONE, NULL);
	CHECK(n == 3, "recvmmsg MSG_WAITFORONE got %ld of 3", n);
	if (n == 3) {
		CHECK(in[0].msg_len == 5 && memcmp(bufs[0], "first", 5) == 0, "datagram 1");
		CHECK(in[1].msg_len == 7 && memcmp(bufs[1], "second!", 7) == 0, "datagram 2");
		CHECK(in[2].msg_len == 1 && bufs[2][0] == '3', "datagram 3");
		CHECK(ntohs(from[1].sin_port) == port_of(tx) &&
			      in[1].msg_hdr.msg_namelen == sizeof(struct sockaddr_in),
		      "recvmmsg source address");
	}
	errno = 0;
	n = sys_recvmmsg(rx, in, 4, MSG_DONTWAIT, NULL);
	CHECK(n == -1 && errno == EAGAIN, "recvmmsg on an empty socket: %ld", n);
	CHECK(sys_recvmmsg(rx, in, 0, MSG_DONTWAIT, NULL) == 0, "recvmmsg vlen 0");

	/* A timeout is checked after each datagram; two wait, both arrive. */
	CHECK(sys_sendmmsg(tx, out, 2, 0) == 2, "sendmmsg two");
	struct timespec t = { 5, 0 };
	n = sys_recvmmsg(rx, in, 2, 0, &t);
	CHECK(n == 2, "recvmmsg with a timeout got %ld of 2", n);
	CHECK(t.tv_sec >= 0 && t.tv_sec <= 5 && t.tv_nsec >= 0 && t.tv_nsec < 1000000000,
	      "time left written back: %ld.%09ld", (long)t.tv_sec, (long)t.tv_nsec);
	struct timespec bad = { 0, 1000000000 };
	errno = 0;
	CHECK(sys_recvmmsg(rx, in, 2, MSG_DONTWAIT, &bad) == -1 && errno == EINVAL,
	      "recvmmsg with a malformed timeout");

	/* Bad pointers: EFAULT before anything moved, the count after. */
	errno = 0;
	CHECK(sys_sendmmsg(tx, (struct mmsghdr *)8, 2, 0) == -1 && errno == EFAULT,
	      "sendmmsg of an unmapped array");
	errno = 0;
	CHECK(sys_recvmmsg(rx, (struct mmsghdr *)8, 2, MSG_DONTWAIT, NULL) == -1 &&
		      errno == EFAULT,
	      "recvmmsg into an unmapped array");
	out[1].msg_hdr.msg_iov = (struct iovec *)8;
	n = sys_sendmmsg(tx, out, 3, 0);
	CHECK(n == 1, "sendmmsg with a bad second entry sent %ld (1 expected)", n);
	n = sys_recvmmsg(rx, in, 4, MSG_DONTWAIT, NULL);
	CHECK(n == 1 && in[0].msg_len == 5, "the one datagram sent before the bad entry: %ld", n);
	close(rx);
	close(tx);
}

static void tos(void)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(get_int(u, IPPROTO_IP, IP_TOS) == 0, "IP_TOS starts at 0");
	CHECK(set_int(u, IPPROTO_IP, IP_TOS, 0xb9) == 0, "set IP_TOS on UDP");
	CHECK(get_int(u, IPPROTO_IP, IP_TOS) == 0xb9, "UDP keeps all eight TOS bits: %#x",
	      get_int(u, IPPROTO_IP, IP_TOS));
	CHECK(set_int(t, IPPROTO_IP, IP_TOS, 0x48 | 3) == 0, "set IP_TOS on TCP");
	CHECK(get_int(t, IPPROTO_IP, IP_TOS) == 0x48, "TCP drops the ECN bits: %#x",
	      get_int(t, IPPROTO_IP, IP_TOS));
	/* The accepted socket inherits the listener's. */
	struct sockaddr_in a = loopback(0);
	socklen_t len = sizeof a;
	CHECK(bind(t, (struct sockaddr *)&a, sizeof a) == 0 && listen(t, 4) == 0, "listen");
	a = loopback(port_of(t));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect");
	int s = accept(t, (struct sockaddr *)&a, &len);
	CHECK(s >= 0, "accept");
	CHECK(get_int(s, IPPROTO_IP, IP_TOS) == 0x48, "accepted socket's IP_TOS: %#x",
	      get_int(s, IPPROTO_IP, IP_TOS));
	CHECK(write(c, "x", 1) == 1 && write(s, "y", 1) == 1, "data both ways with a TOS");
	close(s);
	close(c);
	close(t);
	close(u);
}

static void reuseport_tcp(void)
{
	int l[2], other, accepted[2] = { 0, 0 }, clients[CLIENTS];
	struct sockaddr_in a = loopback(0);
	for (int i = 0; i < 2; i++) {
		l[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		CHECK(set_int(l[i], SOL_SOCKET, SO_REUSEPORT, 1) == 0, "set SO_REUSEPORT");
		CHECK(get_int(l[i], SOL_SOCKET, SO_REUSEPORT) == 1, "get SO_REUSEPORT");
		CHECK(bind(l[i], (struct sockaddr *)&a, sizeof a) == 0, "reuseport bind %d", i);
		CHECK(listen(l[i], 64) == 0, "reuseport listen %d", i);
		a = loopback(port_of(l[0]));
	}
	other = socket(AF_INET, SOCK_STREAM, 0);
	errno = 0;
	CHECK(bind(other, (struct sockaddr *)&a, sizeof a) == -1 && errno == EADDRINUSE,
	      "a socket without SO_REUSEPORT cannot share the port");
	close(other);
	for (int i = 0; i < CLIENTS; i++) {
		clients[i] = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(connect(clients[i], (struct sockaddr *)&a, sizeof a) == 0, "client %d", i);
	}
	int total = 0;
	while (total < CLIENTS) {
		struct pollfd p[2] = { { l[0], POLLIN, 0 }, { l[1], POLLIN, 0 } };
		if (poll(p, 2, 10000) <= 0) {
			CHECK(0, "only %d of %d connections reached a listener", total, CLIENTS);
			break;
		}
		for (int i = 0; i < 2; i++) {
			int s;
			while ((s = accept(l[i], NULL, NULL)) >= 0) {
				accepted[i]++;
				total++;
				close(s);
			}
		}
	}
	CHECK(accepted[0] > 0 && accepted[1] > 0, "connections spread: %d and %d",
	      accepted[0], accepted[1]);
	for (int i = 0; i < CLIENTS; i++)
		close(clients[i]);
	close(l[0]);
	close(l[1]);
}

static void reuseport_udp(void)
{
	int u0 = udp_bound(0, 1);
	uint16_t port = port_of(u0);
	int u1 = udp_bound(port, 1);
	CHECK(u0 >= 0 && u1 >= 0, "two UDP sockets with SO_REUSEPORT on one port");
	errno = 0;
	int u2 = udp_bound(port, 0);
	CHECK(u2 == -1 && errno == EADDRINUSE, "a UDP socket without SO_REUSEPORT");
	if (u0 < 0 || u1 < 0)
		return;
	struct sockaddr_in to = loopback(port);
	for (int i = 0; i < CLIENTS; i++) {
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		CHECK(sendto(s, "d", 1, 0, (struct sockaddr *)&to, sizeof to) == 1, "sendto %d", i);
		close(s);
	}
	int got[2] = { 0, 0 }, total = 0;
	while (total < CLIENTS) {
		struct pollfd p[2] = { { u0, POLLIN, 0 }, { u1, POLLIN, 0 } };
		if (poll(p, 2, 10000) <= 0) {
			CHECK(0, "only %d of %d datagrams arrived", total, CLIENTS);
			break;
		}
		char c;
		for (int i = 0; i < 2; i++) {
			while (recv(i ? u1 : u0, &c, 1, MSG_DONTWAIT) == 1) {
				got[i]++;
				total++;
			}
		}
	}
	CHECK(got[0] > 0 && got[1] > 0, "datagrams spread: %d and %d", got[0], got[1]);
	close(u0);
	close(u1);
}

static void defer_accept(void)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK(get_int(l, IPPROTO_TCP, TCP_DEFER_ACCEPT) == 0, "TCP_DEFER_ACCEPT starts at 0");
	CHECK(set_int(l, IPPROTO_TCP, TCP_DEFER_ACCEPT, 5) == 0, "set TCP_DEFER_ACCEPT");
	/* Linux keeps a retransmission count: 5 s read back as 1 + 2 + 4. */
	CHECK(get_int(l, IPPROTO_TCP, TCP_DEFER_ACCEPT) == 7, "TCP_DEFER_ACCEPT 5 reads %d",
	      get_int(l, IPPROTO_TCP, TCP_DEFER_ACCEPT));
	struct sockaddr_in a = loopback(0);
	CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 4) == 0, "listen");
	a = loopback(port_of(l));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(c, (struct sockaddr *)&a, sizeof a) == 0, "connect");
	struct pollfd p = { l, POLLIN, 0 };
	CHECK(poll(&p, 1, 300) == 0, "the listener is not readable before data");
	errno = 0;
	CHECK(accept(l, NULL, NULL) == -1 && errno == EAGAIN, "nothing to accept before data");
	CHECK(write(c, "GET /", 5) == 5, "client writes");
	CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN), "readable once data came");
	int s = accept(l, NULL, NULL);
	CHECK(s >= 0, "accept after data");
	CHECK(get_int(s, IPPROTO_TCP, TCP_DEFER_ACCEPT) == 0,
	      "the accepted socket's TCP_DEFER_ACCEPT reads 0 (the clone clears it)");
	char buf[8] = { 0 };
	CHECK(s >= 0 && read(s, buf, sizeof buf) == 5 && memcmp(buf, "GET /", 5) == 0,
	      "the data is there");
	close(s);
	close(c);
	close(l);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	mmsg();
	tos();
	reuseport_tcp();
	reuseport_udp();
	defer_accept();
	if (failures) {
		printf("sockopts: %d checks failed\n", failures);
		return 1;
	}
	printf("sockopts: all checks passed\n");
	return 0;
}
