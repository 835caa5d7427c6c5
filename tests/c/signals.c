/* Signals end to end: handlers on the user stack with Linux's frame, rt_sigreturn, masks,
 * faults, SIGALRM, SIGPIPE, EINTR/SA_RESTART and default actions. One line per check. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern char **environ;

static volatile sig_atomic_t got_sig, got_code, count;
static volatile pid_t got_pid;
static void *volatile got_addr;
static volatile uintptr_t handler_local;
static sigjmp_buf jump;

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    /* Floating point in the handler must not leak into the interrupted code. */
    volatile double x = 7.25;
    x = x * x;
    got_sig = sig;
    got_code = si->si_code;
    got_pid = si->si_pid;
    got_addr = si->si_addr;
    handler_local = (uintptr_t)&x;
    count++;
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_addr = si->si_addr;
    siglongjmp(jump, 1);
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) {
        printf("sigaction(%d): %s\n", sig, strerror(errno));
        exit(1);
    }
}

static void reset(void) {
    got_sig = 0;
    got_code = 0;
    got_pid = 0;
    got_addr = 0;
    count = 0;
}

static void check_raise(void) {
    install(SIGUSR1, on_info, 0);
    reset();
    volatile double d = 1.5;
    volatile long a = 0x1234567890abcdefL, b = 42;
    int r = raise(SIGUSR1);
    CHECK(r == 0 && got_sig == SIGUSR1 && count == 1, "raise(SIGUSR1) ran the handler (signo %d)",
          (int)got_sig);
    CHECK(got_code == SI_TKILL && got_pid == getpid(), "si_code SI_TKILL (%d), si_pid %d",
          (int)got_code, (int)got_pid);
    CHECK(d * 2 == 3.0 && a == 0x1234567890abcdefL && b == 42, "locals and FPU preserved");
    reset();
    CHECK(kill(getpid(), SIGUSR1) == 0 && got_sig == SIGUSR1 && got_code == SI_USER,
          "kill(getpid(), SIGUSR1): handler, si_code SI_USER");
    CHECK(kill(getpid(), 0) == 0, "kill(getpid(), 0) checks existence");
    errno = 0;
    CHECK(kill(getpid(), 65) == -1 && errno == EINVAL, "kill with signal 65: EINVAL");
    errno = 0;
    CHECK(kill(31337, SIGUSR1) == -1 && errno == ESRCH, "kill of another pid: ESRCH");
}

static void check_mask(void) {
    install(SIGUSR2, on_info, 0);
    reset();
    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR2);
    CHECK(count == 0, "blocked SIGUSR2 stays pending");
    sigpending(&pend);
    CHECK(sigismember(&pend, SIGUSR2) == 1, "sigpending shows SIGUSR2");
    sigprocmask(SIG_SETMASK, &old, NULL);
    CHECK(count == 1 && got_sig == SIGUSR2, "unblocking delivers it");
    sigprocmask(SIG_SETMASK, NULL, &old);
    CHECK(sigismember(&old, SIGUSR2) == 0, "the mask is back after the handler");
}

static void check_resethand_and_altstack(void) {
    static char alt[65536];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack set");
    install(SIGUSR1, on_info, SA_ONSTACK | SA_RESETHAND);
    reset();
    raise(SIGUSR1);
    uintptr_t lo = (uintptr_t)alt, hi = lo + sizeof alt;
    CHECK(count == 1 && handler_local >= lo && handler_local < hi,
          "SA_ONSTACK handler ran on the alternate stack");
    struct sigaction cur;
    sigaction(SIGUSR1, NULL, &cur);
    CHECK(cur.sa_handler == SIG_DFL, "SA_RESETHAND reset the action");
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
}

/* Through a volatile variable, so the compiler cannot see the write is to address 16. */
static volatile int *volatile bad_ptr = (volatile int *)16;

static void check_segv(void) {
    install(SIGSEGV, on_segv, 0);
    reset();
    if (sigsetjmp(jump, 1) == 0) {
        *bad_ptr = 1;
        CHECK(0, "the null write faulted");
    } else {
        CHECK(got_sig == SIGSEGV && got_addr == (void *)16 && got_code == SEGV_MAPERR,
              "SIGSEGV handler: si_addr %p, si_code %d, siglongjmp out", got_addr,
              (int)got_code);
    }
    signal(SIGSEGV, SIG_DFL);
}

/* Whether a store to `p` faults (SIGSEGV with si_addr `p`): the page's translation must be
 * gone from the TLB, not only from the page tables. */
static int store_faults(volatile char *p) {
    reset();
    if (sigsetjmp(jump, 1) == 0) {
        *p = 7;
        return 0;
    }
    return got_sig == SIGSEGV && got_addr == (void *)p;
}

/* Pages touched (so their translations are cached), then unmapped or made read-only several
 * at a time: every one of them must fault at once. */
static void check_unmapped_pages_fault(void) {
    long pg = sysconf(_SC_PAGESIZE);
    install(SIGSEGV, on_segv, 0);
    char *a = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        CHECK(0, "mmap: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < 4; i++) a[i * pg] = 1;
    CHECK(mprotect(a, 3 * pg, PROT_READ) == 0, "mprotect of three touched pages to read-only");
    int ro = 0;
    for (int i = 0; i < 3; i++) ro += store_faults(a + i * pg) && a[i * pg] == 1;
    CHECK(ro == 3 && !store_faults(a + 3 * pg), "stores fault on the 3 read-only pages: %d", ro);
    CHECK(munmap(a, 4 * pg) == 0, "munmap of four touched pages");
    int gone = 0;
    for (int i = 0; i < 4; i++) gone += store_faults(a + i * pg);
    CHECK(gone == 4, "stores fault on all 4 unmapped pages: %d", gone);
    /* Past 33 pages the kernel reloads CR3 instead of flushing page by page. */
    char *b = mmap(NULL, 40 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) {
        CHECK(0, "mmap: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < 40; i++) b[i * pg] = 1;
    CHECK(munmap(b, 40 * pg) == 0, "munmap of forty touched pages");
    gone = 0;
    for (int i = 0; i < 40; i++) gone += store_faults(b + i * pg);
    CHECK(gone == 40, "stores fault on all 40 unmapped pages: %d", gone);
    signal(SIGSEGV, SIG_DFL);
}

static void check_alarm(void) {
    install(SIGALRM, on_info, 0);
    reset();
    alarm(1);
    int r = pause();
    CHECK(r == -1 && errno == EINTR && got_sig == SIGALRM, "alarm(1) + pause(): SIGALRM, EINTR");

    /* A blocking read is interrupted (no SA_RESTART)... */
    int p[2];
    if (pipe(p))
        return;
    reset();
    struct itimerval it = {.it_value = {.tv_usec = 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char c;
    ssize_t n = read(p[0], &c, 1);
    CHECK(n == -1 && errno == EINTR && got_sig == SIGALRM,
          "setitimer: read on an empty pipe interrupted, EINTR");
    struct itimerval now;
    getitimer(ITIMER_REAL, &now);
    CHECK(now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0, "getitimer: disarmed");
    close(p[0]);
    close(p[1]);
}

static int restart_fd;
static void on_alarm_write(int sig) {
    (void)sig;
    count++;
    if (write(restart_fd, "y", 1) != 1)
        count += 100;
}

static void check_restart(void) {
    int p[2];
    if (pipe(p))
        return;
    restart_fd = p[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm_write;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    reset();
    struct itimerval it = {.it_value = {.tv_usec = 100000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char c = 0;
    ssize_t n = read(p[0], &c, 1);
    CHECK(n == 1 && c == 'y' && count == 1, "SA_RESTART: the interrupted read restarted");
    close(p[0]);
    close(p[1]);
}

static void check_sigpipe(void) {
    install(SIGPIPE, on_info, 0);
    int p[2];
    if (pipe(p))
        return;
    close(p[0]);
    reset();
    errno = 0;
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE && got_sig == SIGPIPE,
          "write to a pipe without reader: EPIPE and SIGPIPE");
    close(p[1]);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &len)) {
        CHECK(0, "listen on loopback: %s", strerror(errno));
        return;
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a)) {
        CHECK(0, "connect: %s", strerror(errno));
        return;
    }
    int s = accept(l, NULL, NULL);
    shutdown(c, SHUT_WR);
    reset();
    errno = 0;
    CHECK(send(c, "x", 1, 0) == -1 && errno == EPIPE && got_sig == SIGPIPE,
          "send after SHUT_WR: EPIPE and SIGPIPE");
    reset();
    errno = 0;
    CHECK(send(c, "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE && got_sig == 0,
          "send with MSG_NOSIGNAL: EPIPE, no signal");
    signal(SIGPIPE, SIG_IGN);
    reset();
    errno = 0;
    CHECK(write(c, "x", 1) == -1 && errno == EPIPE && got_sig == 0,
          "SIGPIPE ignored: EPIPE only");
    close(s);
    close(c);
    close(l);
}

static void check_default_term(const char *self) {
    pid_t pid;
    char *argv[] = {(char *)self, "term", NULL};
    int r = posix_spawn(&pid, self, NULL, NULL, argv, environ);
    if (r != 0) {
        CHECK(0, "posix_spawn %s: %s", self, strerror(r));
        return;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int shell = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM && shell == 143,
          "unhandled SIGTERM ends the program: status %d", shell);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "term") == 0) {
        raise(SIGTERM);
        printf("signals: still alive after SIGTERM\n");
        return 0;
    }
    check_raise();
    check_mask();
    check_resethand_and_altstack();
    check_segv();
    check_unmapped_pages_fault();
    check_alarm();
    check_restart();
    check_sigpipe();
    check_default_term(argv[0]);
    if (failures) {
        printf("signals: %d checks failed\n", failures);
        return 1;
    }
    printf("signals: all checks passed\n");
    return 0;
}
