/* The route table: local hosts found, unknown domains absent, growth keeps every entry. */
#include <stdio.h>
#include <string.h>

#include "corvid/routes.h"

int main(void)
{
    cv_routes_t *t = NULL;
    int failures = 0;
    char d[64];
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);                                    \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
    CHECK(cv_routes_create(&t) == 0);
    CHECK(cv_routes_lookup(t, "localhost") == NULL);
    CHECK(cv_routes_add(t, "localhost", CV_ROUTE_LOCAL, NULL) == 0);
    CHECK(cv_routes_add(t, "localhost", CV_ROUTE_LOCAL, NULL) == CV_EEXIST);
    const cv_route_t *r = cv_routes_lookup(t, "localhost");
    CHECK(r && r->kind == CV_ROUTE_LOCAL && strcmp(r->domain, "localhost") == 0);
    CHECK(cv_routes_lookup(t, "localhost.") == NULL);
    CHECK(cv_routes_lookup(t, "example.org") == NULL);
    for (int i = 0; i < 1000; i++) {
        snprintf(d, sizeof d, "component%d.example.org", i);
        CHECK(cv_routes_add(t, d, CV_ROUTE_COMPONENT, NULL) == 0);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(d, sizeof d, "component%d.example.org", i);
        r = cv_routes_lookup(t, d);
        CHECK(r && r->kind == CV_ROUTE_COMPONENT && strcmp(r->domain, d) == 0);
    }
    CHECK(cv_routes_lookup(t, "localhost") != NULL);
    CHECK(cv_routes_lookup(t, "component1000.example.org") == NULL);
    cv_routes_free(t);
    printf("%d failed\n", failures);
    return failures != 0;
}
