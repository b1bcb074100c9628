#include <stdio.h>

#include "corvid/throttle.h"
#include "check.h"

int main(void)
{
    cv_throttle_t *t = NULL;
    CHECK(cv_throttle_create(&t, 3) == 0);
    uint64_t now = 1000000;
    for (int i = 0; i < 3; i++) {
        CHECK(cv_throttle_check(t, "10.0.0.1", now) == 0);
        cv_throttle_fail(t, "10.0.0.1", now);
    }
    CHECK(cv_throttle_check(t, "10.0.0.1", now) == CV_ELIMIT);
    CHECK(cv_throttle_check(t, "10.0.0.2", now) == 0);
    /* A new minute forgives. */
    CHECK(cv_throttle_check(t, "10.0.0.1", now + 60000) == 0);
    cv_throttle_free(t);

    CHECK(cv_throttle_create(&t, 0) == 0);
    for (int i = 0; i < 100; i++)
        cv_throttle_fail(t, "x", now);
    CHECK(cv_throttle_check(t, "x", now) == 0);
    cv_throttle_free(t);
    printf("%d failed\n", failures);
    return failures != 0;
}
