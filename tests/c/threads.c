/*
 * POSIX threads as a libc makes them: pthread_create (glibc through clone3, musl through
 * clone), a mutex and a condition variable (futex wait and wake), pthread_join (the kernel
 * clears and wakes the thread's tid word at its exit).
 *
 * Four threads each add 1 to a shared counter 10000 times under the mutex, then wait on the
 * condition variable until the main thread says go, then return their number.
 * Prints "threads: 4 joined, counter 40000" and exits 0 when everything adds up.
 *
 * Built by tests/linux_programs.rs with musl-gcc -static and with gcc against glibc.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define THREADS 4
#define ROUNDS 10000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static long counter;
static int waiting;
static int go;

static void *worker(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	waiting++;
	while (!go)
		pthread_cond_wait(&go_cond, &lock);
	pthread_mutex_unlock(&lock);
	return arg;
}

int main(void)
{
	pthread_t t[THREADS];

	for (intptr_t i = 0; i < THREADS; i++) {
		int e = pthread_create(&t[i], NULL, worker, (void *)i);
		if (e != 0) {
			printf("threads: pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	for (;;) {
		pthread_mutex_lock(&lock);
		int all = waiting == THREADS;
		if (all) {
			go = 1;
			pthread_cond_broadcast(&go_cond);
		}
		pthread_mutex_unlock(&lock);
		if (all)
			break;
		sched_yield();
	}
	for (intptr_t i = 0; i < THREADS; i++) {
		void *ret;
		int e = pthread_join(t[i], &ret);
		if (e != 0 || ret != (void *)i) {
			printf("threads: join of thread %ld failed\n", (long)i);
			return 1;
		}
	}
	printf("threads: %d joined, counter %ld\n", THREADS, counter);
	return counter == (long)THREADS * ROUNDS ? 0 : 1;
}
