/* One thread computing without a pause beside threads that wait on each other, all on one
 * CPU (as in a one-CPU guest): the waiting threads' round trips, through a pipe and over TCP
 * on 127.0.0.1, keep coming, and the busy thread still gets a fair part of the CPU. Linux's
 * fair scheduler runs a woken thread ahead of one that has been computing; a scheduler that
 * queues the woken thread behind the busy one's time slice makes every round trip wait for
 * that slice (rinet did: 25 round trips a second over TCP, 49 through a pipe). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* Round trips per phase, and how long they may take in all: at the rate a busy thread's
 * time slices would allow (one round trip per 10 ms slice) they would take 20 s. */
#define ROUND_TRIPS 2000
#define DEADLINE_S 10.0

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static volatile int stop_spinning;
static volatile unsigned long spins;
static double spinner_cpu_s;

/* Computes (no system call) until told to stop; then reads its own CPU time. */
static void *spinner(void *arg) {
    (void)arg;
    while (!stop_spinning) spins++;
    spinner_cpu_s = seconds(CLOCK_THREAD_CPUTIME_ID);
    return 0;
}

/* Echoes single bytes from `in` to `out` until end of file. */
struct echo_fds {
    int in, out;
};
static void *echoer(void *arg) {
    struct echo_fds *e = arg;
    char b;
    while (read(e->in, &b, 1) == 1)
        if (write(e->out, &b, 1) != 1) break;
    return 0;
}

/* ROUND_TRIPS one-byte round trips through (to, from) while a spinner runs; how many were
 * done before the deadline, the wall time they took and the spinner's CPU time. */
static int round_trips(int to, int from, double *wall_s, double *busy_cpu_s) {
    pthread_t spin;
    stop_spinning = 0;
    spins = 0;
    pthread_create(&spin, 0, spinner, 0);
    double start = seconds(CLOCK_MONOTONIC);
    int done = 0;
    char b = 'x';
    while (done < ROUND_TRIPS && seconds(CLOCK_MONOTONIC) - start < DEADLINE_S) {
        if (write(to, &b, 1) != 1 || read(from, &b, 1) != 1) break;
        done++;
    }
    *wall_s = seconds(CLOCK_MONOTONIC) - start;
    stop_spinning = 1;
    pthread_join(spin, 0);
    *busy_cpu_s = spinner_cpu_s;
    return done;
}

static void check_phase(const char *what, int done, double wall, double busy_cpu) {
    printf("%s: %d round trips in %.3f s beside a busy thread (%.0f a second); the busy "
           "thread had %.3f s of CPU\n",
           what, done, wall, done / wall, busy_cpu);
    CHECK(done == ROUND_TRIPS, "%s: %d round trips done beside a busy thread within %.0f s",
          what, ROUND_TRIPS, DEADLINE_S);
    /* On one CPU a fair scheduler gives the busy thread about half of it. */
    CHECK(busy_cpu >= 0.2 * wall, "%s: the busy thread ran for at least a fifth of the time",
          what);
}

static void through_a_pipe(void) {
    int there[2], back[2];
    if (pipe(there) || pipe(back)) {
        CHECK(0, "pipes");
        return;
    }
    struct echo_fds e = {there[0], back[1]};
    pthread_t t;
    pthread_create(&t, 0, echoer, &e);
    double wall, busy;
    int done = round_trips(there[1], back[0], &wall, &busy);
    close(there[1]);
    pthread_join(t, 0);
    close(there[0]);
    close(back[0]);
    close(back[1]);
    check_phase("pipe", done, wall, busy);
}

static void over_tcp_loopback(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int one = 1;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &len)) {
        CHECK(0, "a TCP listener on 127.0.0.1");
        return;
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a)) {
        CHECK(0, "connect to 127.0.0.1");
        return;
    }
    int s = accept(l, 0, 0);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct echo_fds e = {s, s};
    pthread_t t;
    pthread_create(&t, 0, echoer, &e);
    double wall, busy;
    int done = round_trips(c, c, &wall, &busy);
    shutdown(c, SHUT_WR);
    pthread_join(t, 0);
    close(c);
    close(s);
    close(l);
    check_phase("tcp", done, wall, busy);
}

int main(void) {
    setvbuf(stdout, 0, _IOLBF, 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity to CPU 0");
    through_a_pipe();
    over_tcp_loopback();
    if (failures) {
        printf("busythread: %d checks FAILED\n", failures);
        return 1;
    }
    printf("busythread: all checks passed\n");
    return 0;
}
