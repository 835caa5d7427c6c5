/* The verdict line of each check the tests/c programs make: "ok: WHAT", or "FAILED
 * (file:line): WHAT" counted in `failures`; the program ends with "NAME: all checks passed"
 * when none failed (tests/linux_programs.rs looks for both). */
#ifndef RINET_TESTS_CHECK_H
#define RINET_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (cond) {                                                                        \
            printf("ok: " __VA_ARGS__);                                                    \
        } else {                                                                           \
            printf("FAILED (%s:%d): ", __FILE__, __LINE__);                                \
            printf(__VA_ARGS__);                                                           \
            failures++;                                                                    \
        }                                                                                  \
        printf("\n");                                                                      \
    } while (0)

#endif
