#include <string.h>

#include "reply.h"

int cv__reply_new(const cv_xml_node_t *req, const char *type, cv_stanza_t **out)
{
    cv_stanza_t *r = NULL;
    const char *id = cv_xml_attr(req, "id");
    const char *to = cv_xml_attr(req, "to");
    const char *from = cv_xml_attr(req, "from");
    int rc = cv_stanza_new(&r, req->name, CV_NS_CLIENT);
    if (rc < 0)
        return rc;
    cv_xml_node_t *root = cv_stanza_root(r);
    rc = cv_stanza_set_attr(r, root, "type", type);
    if (rc == 0 && id)
        rc = cv_stanza_set_attr(r, root, "id", id);
    if (rc == 0 && to)
        rc = cv_stanza_set_attr(r, root, "from", to);
    if (rc == 0 && from)
        rc = cv_stanza_set_attr(r, root, "to", from);
    if (rc < 0) {
        cv_stanza_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int cv__reply_error(const cv_xml_node_t *req, cv_stanza_err_t cond, const char *text,
                    const char *app_name, const char *app_ns, cv_stanza_t **out)
{
    cv_stanza_t *r = NULL;
    int rc = cv__reply_new(req, "error", &r);
    if (rc < 0)
        return rc;
    cv_xml_node_t *err = cv_stanza_add_child(r, cv_stanza_root(r), "error", CV_NS_CLIENT);
    rc = err && cv_stanza_add_child(r, err, cv_stanza_err_name(cond), CV_NS_STANZAS_ERR)
             ? cv_stanza_set_attr(r, err, "type", cv_stanza_err_type(cond))
             : CV_ENOMEM;
    if (rc == 0 && text) {
        cv_xml_node_t *t = cv_stanza_add_child(r, err, "text", CV_NS_STANZAS_ERR);
        rc = t ? cv_stanza_add_text(r, t, text, strlen(text)) : CV_ENOMEM;
    }
    if (rc == 0 && app_name && !cv_stanza_add_child(r, err, app_name, app_ns))
        rc = CV_ENOMEM;
    if (rc < 0) {
        cv_stanza_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int cv__child_text(const cv_xml_node_t *n, const char *name, const char *ns, cv_buf_t *out)
{
    const cv_xml_node_t *el = cv_xml_child(n, name, ns);
    if (!el)
        return CV_ENOTFOUND;
    int rc = cv_xml_text(el, out);
    if (rc == 0 && !out->data)
        rc = cv_buf_append_str(out, "");
    return rc;
}

int cv__reply_request_copy(const cv_xml_node_t *req, cv_stanza_t **out)
{
    static const char *const kept[] = {"id", "type", "from", "to"};
    int rc = cv_stanza_new(out, req->name, req->ns);

    for (size_t i = 0; rc == 0 && i < sizeof kept / sizeof kept[0]; i++) {
        const char *v = cv_xml_attr(req, kept[i]);
        if (v)
            rc = cv_stanza_set_attr(*out, cv_stanza_root(*out), kept[i], v);
    }
    if (rc < 0) {
        cv_stanza_free(*out);
        *out = NULL;
    }
    return rc;
}
