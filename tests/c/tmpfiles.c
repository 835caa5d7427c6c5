/*
 * Files in /tmp from an ordinary C program: make a directory, write files of several sizes,
 * read them back, list the directory, rename, truncate, remove. Prints one line per failed
 * check and "tmpfiles: all checks passed" at the end; exit status 0 only then.
 *
 * Built by tests/linux_programs.rs with musl-gcc -static.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("tmpfiles: FAILED: " __VA_ARGS__);          \
			printf(" (errno %d: %s)\n", errno, strerror(errno)); \
			failures++;                                        \
		}                                                          \
	} while (0)

static unsigned char pattern(size_t i, size_t seed)
{
	return (unsigned char)(i * 13 + seed * 101 + (i >> 9));
}

static void round_trip(const char *path, size_t len, size_t seed)
{
	unsigned char *buf = malloc(len + 1), *back = malloc(len + 1);
	struct stat st;
	FILE *f;

	if (buf == NULL || back == NULL) {
		CHECK(0, "malloc %zu", len);
		return;
	}
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i, seed);
	/* stdio for the write (buffered, as most programs do), raw read(2) for the check. */
	f = fopen(path, "wb");
	CHECK(f != NULL, "fopen %s for writing", path);
	if (f != NULL) {
		CHECK(fwrite(buf, 1, len, f) == len, "fwrite %zu bytes to %s", len, path);
		CHECK(fclose(f) == 0, "fclose %s", path);
	}
	CHECK(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size == len,
	      "stat %s: size %zu", path, len);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0, "open %s", path);
	if (fd >= 0) {
		size_t got = 0;
		ssize_t n;
		while (got <= len && (n = read(fd, back + got, len + 1 - got)) > 0)
			got += (size_t)n;
		CHECK(got == len && memcmp(buf, back, len) == 0, "read back %s (%zu of %zu bytes)",
		      path, got, len);
		close(fd);
	}
	free(buf);
	free(back);
}

int main(void)
{
	static const size_t sizes[] = {0, 1, 4095, 4096, 4097, 100000, 1 << 20};
	char path[64];
	struct stat st;

	setvbuf(stdout, NULL, _IONBF, 0);
	CHECK(stat("/tmp", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 01777,
	      "/tmp is a directory with mode 1777 (mode %o)", (unsigned)st.st_mode);
	CHECK(mkdir("/tmp/work", 0755) == 0, "mkdir /tmp/work");
	CHECK(mkdir("/tmp/work", 0755) == -1 && errno == EEXIST, "mkdir twice gives EEXIST");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(path, sizeof(path), "/tmp/work/file%zu", i);
		round_trip(path, sizes[i], i);
	}

	DIR *d = opendir("/tmp/work");
	CHECK(d != NULL, "opendir /tmp/work");
	if (d != NULL) {
		size_t seen = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (strncmp(e->d_name, "file", 4) == 0)
				seen++;
		CHECK(seen == sizeof(sizes) / sizeof(sizes[0]), "readdir lists %zu files", seen);
		closedir(d);
	}

	/* Append, rename over an existing file, truncate. */
	FILE *f = fopen("/tmp/work/file1", "ab");
	CHECK(f != NULL && fputs("tail", f) >= 0 && fclose(f) == 0, "append to file1");
	CHECK(stat("/tmp/work/file1", &st) == 0 && st.st_size == 5, "file1 is 5 bytes after append");
	CHECK(rename("/tmp/work/file1", "/tmp/work/file2") == 0, "rename file1 over file2");
	CHECK(access("/tmp/work/file1", F_OK) == -1 && errno == ENOENT, "file1 is gone");
	CHECK(stat("/tmp/work/file2", &st) == 0 && st.st_size == 5, "file2 holds file1's 5 bytes");
	CHECK(truncate("/tmp/work/file6", 12345) == 0, "truncate file6");
	CHECK(stat("/tmp/work/file6", &st) == 0 && st.st_size == 12345, "file6 is 12345 bytes");
	round_trip("/tmp/work/file6", 3000, 42);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (i == 1)
			continue;
		snprintf(path, sizeof(path), "/tmp/work/file%zu", i);
		CHECK(unlink(path) == 0, "unlink %s", path);
	}
	CHECK(rmdir("/tmp/work") == 0, "rmdir /tmp/work once empty");
	CHECK(unlink("/tmp/work/file0") == -1 && errno == ENOENT, "unlink in a removed directory");

	if (failures != 0) {
		printf("tmpfiles: %d checks failed\n", failures);
		return 1;
	}
	printf("tmpfiles: all checks passed\n");
	return 0;
}
