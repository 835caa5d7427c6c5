/* CPU time a program can read about itself and its children: getrusage (RUSAGE_SELF,
 * RUSAGE_THREAD, RUSAGE_CHILDREN), times, and wait4's struct rusage, against the CPU time
 * clocks; context switches (sleeps are voluntary, two threads sharing one CPU preempt each
 * other); and Linux's errors. A spawned copy of this program burns CPU and sleeps as the
 * child. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

static long long ns_of(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long us_of(struct timeval tv) { return tv.tv_sec * 1000000LL + tv.tv_usec; }

/* Work in ring 3 until the program's CPU time has grown by `ms` milliseconds. */
static volatile unsigned long sink;
static void burn(long ms) {
    long long until = ns_of(CLOCK_PROCESS_CPUTIME_ID) + ms * 1000000LL;
    while (ns_of(CLOCK_PROCESS_CPUTIME_ID) < until) {
        for (int i = 0; i < 200000; i++) sink += (unsigned long)i * 2654435761u;
    }
}

static void check_self(void) {
    struct rusage a, b, t;
    CHECK(getrusage(RUSAGE_SELF, &a) == 0, "getrusage(RUSAGE_SELF)");
    burn(150);
    CHECK(getrusage(RUSAGE_SELF, &b) == 0, "getrusage(RUSAGE_SELF) again");
    long long grew = us_of(b.ru_utime) + us_of(b.ru_stime) - us_of(a.ru_utime) - us_of(a.ru_stime);
    CHECK(grew >= 135000, "150 ms of CPU work shows in utime+stime: %lld us", grew);
    CHECK(us_of(b.ru_utime) > us_of(a.ru_utime), "utime grew: %lld -> %lld us",
          us_of(a.ru_utime), us_of(b.ru_utime));
    long long clock_us = ns_of(CLOCK_PROCESS_CPUTIME_ID) / 1000;
    long long sum = us_of(b.ru_utime) + us_of(b.ru_stime);
    CHECK(sum <= clock_us + 10000, "utime+stime (%lld us) within CLOCK_PROCESS_CPUTIME_ID (%lld us)",
          sum, clock_us);
    CHECK(b.ru_maxrss > 0, "ru_maxrss is the resident size in KiB: %ld", b.ru_maxrss);
    CHECK(getrusage(RUSAGE_THREAD, &t) == 0 && us_of(t.ru_utime) + us_of(t.ru_stime) >= 135000,
          "RUSAGE_THREAD counts the calling thread's work: %lld us",
          us_of(t.ru_utime) + us_of(t.ru_stime));
}

static void check_children(const char *self) {
    struct rusage before, after, ru;
    struct tms ta, tb;
    CHECK(getrusage(RUSAGE_CHILDREN, &before) == 0, "getrusage(RUSAGE_CHILDREN)");
    clock_t t0 = times(&ta);
    CHECK(t0 != (clock_t)-1, "times");
    pid_t pid;
    char *argv[] = {(char *)self, "burn", NULL};
    int r = posix_spawn(&pid, self, NULL, NULL, argv, environ);
    if (r != 0) {
        CHECK(0, "posix_spawn %s: %s", self, strerror(r));
        return;
    }
    int status = 0;
    memset(&ru, 0, sizeof ru);
    CHECK(wait4(pid, &status, 0, &ru) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "wait4 reaps the child");
    long long child = us_of(ru.ru_utime) + us_of(ru.ru_stime);
    CHECK(child >= 135000, "wait4's rusage holds the child's 150 ms: %lld us", child);
    CHECK(getrusage(RUSAGE_CHILDREN, &after) == 0, "getrusage(RUSAGE_CHILDREN) again");
    long long grew = us_of(after.ru_utime) + us_of(after.ru_stime) - us_of(before.ru_utime) -
                     us_of(before.ru_stime);
    CHECK(grew >= child - 1000, "RUSAGE_CHILDREN grew by the reaped child's time: %lld us", grew);
    CHECK(ru.ru_nvcsw >= 5, "wait4's rusage holds the child's 5 sleeps: %ld voluntary switches",
          ru.ru_nvcsw);
    CHECK(after.ru_nvcsw - before.ru_nvcsw >= ru.ru_nvcsw,
          "RUSAGE_CHILDREN grew by the child's voluntary switches: %ld -> %ld", before.ru_nvcsw,
          after.ru_nvcsw);
    clock_t t1 = times(&tb);
    long hz = sysconf(_SC_CLK_TCK);
    CHECK(hz == 100, "_SC_CLK_TCK is 100: %ld", hz);
    CHECK(t1 >= t0, "times' return value does not go back: %ld -> %ld", (long)t0, (long)t1);
    long cticks = (long)(tb.tms_cutime + tb.tms_cstime - ta.tms_cutime - ta.tms_cstime);
    CHECK(cticks >= 12, "tms_cutime+tms_cstime hold the child's 150 ms: %ld ticks", cticks);
    CHECK(times(NULL) != (clock_t)-1, "times(NULL) is allowed");
}

/* Sleep `n` times for 10 ms: each sleep gives the CPU up (a voluntary switch). Long enough
 * that the deadline is still ahead when the thread blocks, even the first time under TCG (a
 * sleep whose deadline already passed switches nowhere). */
static void nap(int n) {
    for (int i = 0; i < n; i++) {
        struct timespec ms = {0, 10000000};
        nanosleep(&ms, NULL);
    }
}

static void *burn_thread(void *arg) {
    burn((long)arg);
    return NULL;
}

static void check_switches(void) {
    struct rusage a, b, ta, tb;
    CHECK(getrusage(RUSAGE_SELF, &a) == 0 && getrusage(RUSAGE_THREAD, &ta) == 0,
          "getrusage before sleeping");
    nap(5);
    CHECK(getrusage(RUSAGE_SELF, &b) == 0 && getrusage(RUSAGE_THREAD, &tb) == 0,
          "getrusage after sleeping");
    CHECK(b.ru_nvcsw - a.ru_nvcsw >= 5, "5 sleeps are 5 voluntary switches (RUSAGE_SELF): %ld",
          b.ru_nvcsw - a.ru_nvcsw);
    CHECK(tb.ru_nvcsw - ta.ru_nvcsw >= 5,
          "5 sleeps are 5 voluntary switches (RUSAGE_THREAD): %ld", tb.ru_nvcsw - ta.ru_nvcsw);
    /* Two threads that never block, on one CPU: the scheduler must take it from one of
     * them while it could still run. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity to CPU 0");
    CHECK(getrusage(RUSAGE_SELF, &a) == 0, "getrusage before the two threads");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, burn_thread, (void *)100L) == 0, "pthread_create");
    burn(100);
    pthread_join(t, NULL);
    CHECK(getrusage(RUSAGE_SELF, &b) == 0, "getrusage after the two threads");
    CHECK(b.ru_nivcsw > a.ru_nivcsw, "two busy threads on one CPU preempt each other: %ld -> %ld",
          a.ru_nivcsw, b.ru_nivcsw);
}

static void check_errors(void) {
    struct rusage ru;
    errno = 0;
    CHECK(getrusage(12345, &ru) == -1 && errno == EINVAL, "getrusage of an unknown who: EINVAL");
    errno = 0;
    CHECK(syscall(SYS_getrusage, RUSAGE_SELF, (void *)8) == -1 && errno == EFAULT,
          "getrusage to a bad pointer: EFAULT");
    errno = 0;
    CHECK(syscall(SYS_times, (void *)8) == -1 && errno == EFAULT, "times to a bad pointer: EFAULT");
    int status;
    errno = 0;
    CHECK(wait4(-1, &status, WNOHANG, &ru) == -1 && errno == ECHILD, "wait4 with no child: ECHILD");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "burn") == 0) {
        burn(150);
        nap(5);
        return 0;
    }
    check_self();
    check_children(argv[0]);
    check_switches();
    check_errors();
    if (failures) {
        printf("rusage: %d checks failed\n", failures);
        return 1;
    }
    printf("rusage: all checks passed\n");
    return 0;
}
