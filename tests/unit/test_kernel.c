/* cv_kernel_at_least against the running kernel's own release string. */
#include <stdio.h>
#include <sys/utsname.h>

#include "check.h"

int main(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;

    CHECK(uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2);
    CHECK(cv_kernel_at_least(major, minor));
    CHECK(cv_kernel_at_least(major, 0));
    CHECK(cv_kernel_at_least(major - 1, minor + 100));
    CHECK(!cv_kernel_at_least(major, minor + 1));
    CHECK(!cv_kernel_at_least(major + 1, 0));
    CHECK(cv_kernel_at_least(0, 0));
    if (failures)
        printf("%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
