/* AF_UNIX socket pairs as programs use them: bytes both ways over a stream pair, end of file
 * and EPOLLRDHUP when the peer closes (nginx's start-up probe), shutdown, EPIPE, datagram and
 * seqpacket boundaries, a blocking read woken by another thread, and Linux's errors.
 * Prints "socketpair: all checks passed" and exits 0, or names the first failed check. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, what)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            printf("socketpair: FAILED %s (errno %d)\n", what, errno);                     \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void stream_both_ways(void)
{
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s) == 0,
          "socketpair stream");
    CHECK(write(s[0], "hello ", 6) == 6, "write");
    CHECK(send(s[0], "world", 5, 0) == 5, "send");
    CHECK(write(s[1], "back", 4) == 4, "write back");
    int avail = -1;
    CHECK(ioctl(s[1], FIONREAD, &avail) == 0 && avail == 11, "FIONREAD 11");
    char buf[32] = {0};
    CHECK(recv(s[1], buf, sizeof buf, MSG_PEEK) == 11, "peek");
    CHECK(read(s[1], buf, 8) == 8 && memcmp(buf, "hello wo", 8) == 0, "read 8 in order");
    CHECK(recv(s[1], buf, sizeof buf, 0) == 3 && memcmp(buf, "rld", 3) == 0, "recv rest");
    errno = 0;
    CHECK(recv(s[1], buf, sizeof buf, 0) == -1 && errno == EAGAIN, "empty is EAGAIN");
    CHECK(read(s[0], buf, sizeof buf) == 4 && memcmp(buf, "back", 4) == 0, "read back");

    struct stat st;
    CHECK(fstat(s[0], &st) == 0 && S_ISSOCK(st.st_mode), "fstat S_IFSOCK");
    int v = 0;
    socklen_t len = sizeof v;
    CHECK(getsockopt(s[0], SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_STREAM &&
              len == sizeof v,
          "SO_TYPE");
    len = sizeof v;
    CHECK(getsockopt(s[0], SOL_SOCKET, SO_DOMAIN, &v, &len) == 0 && v == AF_UNIX, "SO_DOMAIN");
    errno = 0;
    CHECK(getsockopt(s[0], IPPROTO_TCP, 1, &v, &len) == -1 && errno == EOPNOTSUPP,
          "no TCP options");
    struct sockaddr_un sun;
    len = sizeof sun;
    CHECK(getsockname(s[0], (struct sockaddr *)&sun, &len) == 0 && len == sizeof(sa_family_t) &&
              sun.sun_family == AF_UNIX,
          "getsockname of an unnamed socket");
    errno = 0;
    CHECK(connect(s[0], (struct sockaddr *)&sun, sizeof(sa_family_t)) == -1 && errno == EINVAL,
          "connect: no path is EINVAL");
    strcpy(sun.sun_path, "/nonexistent-socket");
    errno = 0;
    CHECK(connect(s[0], (struct sockaddr *)&sun, sizeof sun) == -1 && errno == ENOENT,
          "connect: no such socket");
    errno = 0;
    CHECK(sendto(s[0], "x", 1, 0, (struct sockaddr *)&sun, sizeof sun) == -1 && errno == EISCONN,
          "sendto with an address: EISCONN");
    errno = 0;
    CHECK(listen(s[0], 1) == -1 && errno == EINVAL, "listen: EINVAL");
    close(s[0]);
    close(s[1]);
}

/* nginx's ngx_epoll_test_rdhup(): EPOLLRDHUP must come when the peer closes. */
static void rdhup_when_the_peer_closes(void)
{
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "socketpair for rdhup");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ee = {.events = EPOLLET | EPOLLIN | EPOLLRDHUP};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s[0], &ee) == 0, "epoll_ctl add");
    CHECK(close(s[1]) == 0, "close the peer");
    struct epoll_event got = {0};
    CHECK(epoll_wait(ep, &got, 1, 5000) == 1 && (got.events & EPOLLRDHUP) &&
              (got.events & EPOLLIN),
          "EPOLLRDHUP after the peer closed");
    CHECK(epoll_wait(ep, &got, 1, 0) == 0, "edge-triggered: reported once");
    char c;
    CHECK(read(s[0], &c, 1) == 0, "end of file");
    errno = 0;
    CHECK(send(s[0], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "send to a closed peer");
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    CHECK(write(s[0], "x", 1) == -1 && errno == EPIPE, "write to a closed peer");
    signal(SIGPIPE, SIG_DFL);
    close(s[0]);
    close(ep);
}

static void shutdown_one_way(void)
{
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "socketpair for shutdown");
    CHECK(shutdown(s[0], SHUT_WR) == 0, "shutdown SHUT_WR");
    struct pollfd pfd = {.fd = s[1], .events = POLLIN | POLLRDHUP};
    CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLRDHUP) && !(pfd.revents & POLLHUP),
          "peer sees POLLRDHUP, not POLLHUP");
    char buf[8];
    CHECK(read(s[1], buf, sizeof buf) == 0, "peer reads end of file");
    errno = 0;
    CHECK(send(s[0], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE, "send after SHUT_WR");
    CHECK(write(s[1], "ok", 2) == 2, "the other way still works");
    CHECK(read(s[0], buf, sizeof buf) == 2, "read the other way");
    errno = 0;
    CHECK(shutdown(s[0], 9) == -1 && errno == EINVAL, "shutdown how=9");
    close(s[0]);
    close(s[1]);
}

static void messages_keep_boundaries(void)
{
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, s) == 0, "socketpair dgram");
    CHECK(send(s[0], "first", 5, 0) == 5 && send(s[0], "second", 6, 0) == 6, "two datagrams");
    char buf[16];
    CHECK(recv(s[1], buf, 3, MSG_TRUNC) == 5 && memcmp(buf, "fir", 3) == 0,
          "MSG_TRUNC gives the datagram's length");
    struct iovec iov = {.iov_base = buf, .iov_len = 4};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    CHECK(recvmsg(s[1], &mh, 0) == 4 && (mh.msg_flags & MSG_TRUNC) && memcmp(buf, "seco", 4) == 0,
          "recvmsg sets MSG_TRUNC");
    struct iovec out[2] = {{.iov_base = "ab", .iov_len = 2}, {.iov_base = "cd", .iov_len = 2}};
    struct msghdr sm = {.msg_iov = out, .msg_iovlen = 2};
    CHECK(sendmsg(s[0], &sm, 0) == 4, "sendmsg gathers");
    CHECK(read(s[1], buf, sizeof buf) == 4 && memcmp(buf, "abcd", 4) == 0, "one message of 4");

    /* The batched calls themselves (musl's sendmmsg wrapper would loop over sendmsg). */
    struct iovec one = {.iov_base = "one", .iov_len = 3}, two = {.iov_base = "two!", .iov_len = 4};
    struct mmsghdr out_v[2] = {{.msg_hdr = {.msg_iov = &one, .msg_iovlen = 1}},
                               {.msg_hdr = {.msg_iov = &two, .msg_iovlen = 1}}};
    CHECK(syscall(SYS_sendmmsg, s[0], out_v, 2, 0) == 2 && out_v[1].msg_len == 4, "sendmmsg");
    char b1[8], b2[8];
    struct iovec in1 = {.iov_base = b1, .iov_len = sizeof b1}, in2 = {.iov_base = b2, .iov_len = sizeof b2};
    struct mmsghdr in_v[2] = {{.msg_hdr = {.msg_iov = &in1, .msg_iovlen = 1}},
                              {.msg_hdr = {.msg_iov = &in2, .msg_iovlen = 1}}};
    CHECK(syscall(SYS_recvmmsg, s[1], in_v, 2, MSG_DONTWAIT, NULL) == 2 && in_v[0].msg_len == 3 &&
              in_v[1].msg_len == 4 && memcmp(b2, "two!", 4) == 0,
          "recvmmsg keeps each datagram");
    close(s[0]);
    close(s[1]);

    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, s) == 0, "socketpair seqpacket");
    CHECK(write(s[0], "pkt", 3) == 3, "seqpacket write");
    close(s[0]);
    CHECK(read(s[1], buf, sizeof buf) == 3, "seqpacket message");
    CHECK(read(s[1], buf, sizeof buf) == 0, "seqpacket end of file");
    close(s[1]);
}

static int late_fd;

static void *write_late(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    if (write(late_fd, "late", 4) != 4)
        printf("socketpair: FAILED late write\n");
    return NULL;
}

static void blocking_read_is_woken(void)
{
    int s[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0, "socketpair for blocking");
    late_fd = s[1];
    pthread_t t;
    CHECK(pthread_create(&t, NULL, write_late, NULL) == 0, "pthread_create");
    char buf[8];
    CHECK(read(s[0], buf, sizeof buf) == 4 && memcmp(buf, "late", 4) == 0,
          "a blocking read gets what another thread writes");
    pthread_join(t, NULL);
    close(s[0]);
    close(s[1]);
}

static void errors_follow_linux(void)
{
    int s[2];
    errno = 0;
    CHECK(socketpair(AF_INET, SOCK_STREAM, 0, s) == -1 && errno == EOPNOTSUPP, "AF_INET pair");
    errno = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, IPPROTO_TCP, s) == -1 && errno == EPROTONOSUPPORT,
          "protocol TCP");
    errno = 0;
    CHECK(socketpair(AF_UNIX, SOCK_RDM, 0, s) == -1 && errno == ESOCKTNOSUPPORT, "SOCK_RDM");
    /* An address no program can write (hidden from the compiler's bounds check). */
    volatile unsigned long bad = 8;
    errno = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)bad) == -1 && errno == EFAULT, "bad sv");
}

int main(void)
{
    stream_both_ways();
    rdhup_when_the_peer_closes();
    shutdown_one_way();
    messages_keep_boundaries();
    blocking_read_is_woken();
    errors_follow_linux();
    if (failures) {
        printf("socketpair: %d checks failed\n", failures);
        return 1;
    }
    printf("socketpair: all checks passed\n");
    return 0;
}
