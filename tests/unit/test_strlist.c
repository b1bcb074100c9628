/*
 * cv_strlist_t: copies in order, grows past its first allocation, and frees to empty.
 */
#include <stdio.h>
#include <string.h>

#include "corvid/buf.h"
#include "check.h"

int main(void)
{
    cv_strlist_t l = {NULL, 0, 0};
    char name[16];
    int ok = 1;

    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "n%d", i);
        CHECK_RC(cv_strlist_add(&l, name), 0);
    }
    name[0] = 'X'; /* the list holds copies */
    CHECK(l.n == 100 && l.cap >= 100);
    for (int i = 0; ok && i < 100; i++) {
        snprintf(name, sizeof name, "n%d", i);
        ok = strcmp(l.v[i], name) == 0;
    }
    CHECK(ok);
    cv_strlist_free(&l);
    CHECK(l.v == NULL && l.n == 0 && l.cap == 0);
    cv_strlist_free(&l); /* twice is harmless */
    if (failures)
        return 1;
    printf("test_strlist: ok\n");
    return 0;
}
