/*
 * The seeds' client flow, as an ordinary C program for Linux: resolve a name with
 * gethostbyname (the libc reads /etc/hosts, then asks the name server in /etc/resolv.conf),
 * connect, write, read back, compare; then read the connection's TCP_INFO as iperf3 does.
 *
 * Usage: client NAME PORT ROUNDS SIZE [ALSO...]
 *   Echoes ROUNDS messages of SIZE bytes through NAME:PORT, then resolves each ALSO name and
 *   prints it ("client: ALSO is A.B.C.D"). Exit status 0 when every byte came back intact.
 *
 * Built by tests/linux_programs.rs with musl-gcc -static and with gcc against glibc.
 */
#define _GNU_SOURCE /* struct tcp_info in musl's <netinet/tcp.h> */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SIZE 65536

static int resolve(const char *name, struct in_addr *out)
{
	struct hostent *server = gethostbyname(name);
	if (server == NULL || server->h_addrtype != AF_INET || server->h_length != 4) {
		printf("client: cannot resolve %s (h_errno %d)\n", name, h_errno);
		return -1;
	}
	memcpy(out, server->h_addr_list[0], 4);
	printf("client: %s is %s\n", name, inet_ntoa(*out));
	return 0;
}

/* Reads exactly len bytes; 0 when they all came, -1 on an error or an early end. */
static int read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			printf("client: read after %zu of %zu bytes: %s\n", got, len,
			       n == 0 ? "end of stream" : strerror(errno));
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const unsigned char *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t n = write(fd, buf + put, len - put);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			printf("client: write: %s\n", strerror(errno));
			return -1;
		}
		put += (size_t)n;
	}
	return 0;
}

/*
 * TCP_INFO with the libc's whole struct tcp_info: the kernel fills all of it (its own struct is
 * at least as long), so the length comes back unchanged; the state is ESTABLISHED, and the
 * congestion window and retransmission count are the kernel's (the buffer was filled with
 * 0xa5 first: a field left unwritten would show it).
 */
static int report_tcp_info(int sockfd)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);

	memset(&info, 0xa5, sizeof(info));
	if (getsockopt(sockfd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
		printf("client: TCP_INFO: %s\n", strerror(errno));
		return 1;
	}
	if (len != sizeof(info)) {
		printf("client: TCP_INFO gave %u of %zu bytes\n", (unsigned)len, sizeof(info));
		return 1;
	}
	printf("client: tcp_info %u bytes, state %u, cwnd %s, total_retrans %u\n", (unsigned)len,
	       (unsigned)info.tcpi_state,
	       info.tcpi_snd_cwnd > 0 && info.tcpi_snd_cwnd != 0xa5a5a5a5u ? "set" : "unset",
	       info.tcpi_total_retrans);
	return 0;
}

int main(int argc, char **argv)
{
	static unsigned char out[MAX_SIZE], in[MAX_SIZE];
	struct sockaddr_in address;
	struct in_addr addr;
	long rounds, size;
	int sockfd, port;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 5) {
		printf("usage: %s NAME PORT ROUNDS SIZE [ALSO...]\n", argv[0]);
		return 2;
	}
	port = atoi(argv[2]);
	rounds = atol(argv[3]);
	size = atol(argv[4]);
	if (port <= 0 || port > 65535 || rounds <= 0 || size <= 0 || size > MAX_SIZE) {
		printf("client: bad PORT, ROUNDS or SIZE (SIZE at most %d)\n", MAX_SIZE);
		return 2;
	}
	if (resolve(argv[1], &addr) != 0)
		return 1;

	sockfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sockfd < 0) {
		printf("client: socket: %s\n", strerror(errno));
		return 1;
	}
	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_port = htons((unsigned short)port);
	address.sin_addr = addr;
	if (connect(sockfd, (struct sockaddr *)&address, sizeof(address)) != 0) {
		printf("client: connect %s:%d: %s\n", inet_ntoa(addr), port, strerror(errno));
		return 1;
	}
	printf("client: connected to %s:%d\n", inet_ntoa(addr), port);

	for (long r = 0; r < rounds; r++) {
		for (long i = 0; i < size; i++)
			out[i] = (unsigned char)(r * 31 + i * 7 + (i >> 8));
		if (write_full(sockfd, out, (size_t)size) != 0 ||
		    read_full(sockfd, in, (size_t)size) != 0)
			return 1;
		if (memcmp(out, in, (size_t)size) != 0) {
			printf("client: round %ld came back changed\n", r);
			return 1;
		}
	}
	if (report_tcp_info(sockfd) != 0)
		return 1;
	close(sockfd);
	printf("client: %ld rounds of %ld bytes echoed intact\n", rounds, size);

	for (int i = 5; i < argc; i++)
		if (resolve(argv[i], &addr) != 0)
			return 1;
	return 0;
}
