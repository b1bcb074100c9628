/* The running kernel's version, for features whose behaviour changed between releases. */
#include <stdio.h>
#include <sys/utsname.h>

#include "corvid/core.h"

int cv_kernel_at_least(unsigned major, unsigned minor)
{
    struct utsname u;
    unsigned have_major = 0, have_minor = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &have_major, &have_minor) != 2)
        return 0;
    return have_major > major || (have_major == major && have_minor >= minor);
}
