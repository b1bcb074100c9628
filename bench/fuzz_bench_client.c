/* libFuzzer target: arbitrary server bytes into the load generator's client (PLAIN or
   SCRAM-SHA-256, with and without the roster step), split at a fuzzer-chosen point so
   the parser sees chunk boundaries. It must never crash, leak or hang. */
#include <string.h>

#include "client.h"
#include "corvid/xml_stream.h"

static void on_online(cv_bench_conn_t *c)
{
    (void)cv_bench_conn_send(c, "<presence/>", 11);
}

static void on_stanza(cv_bench_conn_t *c, const cv_xml_node_t *root)
{
    CV_UNUSED(c);
    CV_UNUSED(root);
}

static void on_fail(cv_bench_conn_t *c, int code, const char *why)
{
    CV_UNUSED(c);
    CV_UNUSED(code);
    CV_UNUSED(why);
}

static void on_output(cv_bench_conn_t *c)
{
    /* Keep memory flat: the fuzzer plays a server that never reads. */
    if (c->out.len > 65536)
        cv_buf_clear(&c->out);
}

static const cv_bench_client_ops_t ops = {on_online, on_stanza, on_fail, on_output};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    cv_bench_opts_t o;
    cv_bench_client_cfg_t cfg = {&o, NULL, &ops};
    cv_bench_scram_cache_t cache;
    cv_bench_conn_t c;

    if (!inited) {
        cv_xml_lib_init();
        inited = 1;
    }
    if (size < 2)
        return 0;
    memset(&o, 0, sizeof o);
    memset(&c, 0, sizeof c);
    snprintf(o.domain, sizeof o.domain, "localhost");
    snprintf(o.user_prefix, sizeof o.user_prefix, "user");
    snprintf(o.password, sizeof o.password, "pw");
    o.mech = (data[0] & 1) ? CV_BENCH_MECH_SCRAM_SHA256 : CV_BENCH_MECH_PLAIN;
    o.roster = (data[0] >> 1) & 1;
    size_t split = data[1] % (size - 1);
    data += 2;
    size -= 2;
    cv_bench_scram_cache_init(&cache, 16);
    if (cv_bench_conn_init(&c, &cfg, &cache, 0, 1) == 0 && cv_bench_conn_begin(&c) == 0 &&
        cv_bench_conn_input(&c, (const char *)data, split) == 0)
        (void)cv_bench_conn_input(&c, (const char *)data + split, size - split);
    cv_bench_conn_cleanup(&c);
    cv_bench_scram_cache_free(&cache);
    return 0;
}
