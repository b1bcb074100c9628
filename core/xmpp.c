#include "corvid/core.h"
#include "corvid/xmpp.h"

const char *cv_stream_err_name(cv_stream_err_t e)
{
    static const char *const names[] = {
        [CV_SE_NONE] = "undefined-condition",
        [CV_SE_BAD_FORMAT] = "bad-format",
        [CV_SE_BAD_NAMESPACE_PREFIX] = "bad-namespace-prefix",
        [CV_SE_CONFLICT] = "conflict",
        [CV_SE_CONNECTION_TIMEOUT] = "connection-timeout",
        [CV_SE_HOST_GONE] = "host-gone",
        [CV_SE_HOST_UNKNOWN] = "host-unknown",
        [CV_SE_IMPROPER_ADDRESSING] = "improper-addressing",
        [CV_SE_INTERNAL_SERVER_ERROR] = "internal-server-error",
        [CV_SE_INVALID_FROM] = "invalid-from",
        [CV_SE_INVALID_NAMESPACE] = "invalid-namespace",
        [CV_SE_INVALID_XML] = "invalid-xml",
        [CV_SE_NOT_AUTHORIZED] = "not-authorized",
        [CV_SE_NOT_WELL_FORMED] = "not-well-formed",
        [CV_SE_POLICY_VIOLATION] = "policy-violation",
        [CV_SE_REMOTE_CONNECTION_FAILED] = "remote-connection-failed",
        [CV_SE_RESET] = "reset",
        [CV_SE_RESOURCE_CONSTRAINT] = "resource-constraint",
        [CV_SE_RESTRICTED_XML] = "restricted-xml",
        [CV_SE_SEE_OTHER_HOST] = "see-other-host",
        [CV_SE_SYSTEM_SHUTDOWN] = "system-shutdown",
        [CV_SE_UNDEFINED_CONDITION] = "undefined-condition",
        [CV_SE_UNSUPPORTED_ENCODING] = "unsupported-encoding",
        [CV_SE_UNSUPPORTED_FEATURE] = "unsupported-feature",
        [CV_SE_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
        [CV_SE_UNSUPPORTED_VERSION] = "unsupported-version",
    };
    if ((unsigned)e >= CV_ARRAY_LEN(names))
        return "undefined-condition";
    return names[e];
}

static const struct {
    const char *name;
    const char *type;
} cv_stanza_errs[] = {
    [CV_STE_BAD_REQUEST] = {"bad-request", "modify"},
    [CV_STE_CONFLICT] = {"conflict", "cancel"},
    [CV_STE_FEATURE_NOT_IMPLEMENTED] = {"feature-not-implemented", "cancel"},
    [CV_STE_FORBIDDEN] = {"forbidden", "auth"},
    [CV_STE_GONE] = {"gone", "cancel"},
    [CV_STE_INTERNAL_SERVER_ERROR] = {"internal-server-error", "cancel"},
    [CV_STE_ITEM_NOT_FOUND] = {"item-not-found", "cancel"},
    [CV_STE_JID_MALFORMED] = {"jid-malformed", "modify"},
    [CV_STE_NOT_ACCEPTABLE] = {"not-acceptable", "modify"},
    [CV_STE_NOT_ALLOWED] = {"not-allowed", "cancel"},
    [CV_STE_NOT_AUTHORIZED] = {"not-authorized", "auth"},
    [CV_STE_POLICY_VIOLATION] = {"policy-violation", "modify"},
    [CV_STE_RECIPIENT_UNAVAILABLE] = {"recipient-unavailable", "wait"},
    [CV_STE_REDIRECT] = {"redirect", "modify"},
    [CV_STE_REGISTRATION_REQUIRED] = {"registration-required", "auth"},
    [CV_STE_REMOTE_SERVER_NOT_FOUND] = {"remote-server-not-found", "cancel"},
    [CV_STE_REMOTE_SERVER_TIMEOUT] = {"remote-server-timeout", "wait"},
    [CV_STE_RESOURCE_CONSTRAINT] = {"resource-constraint", "wait"},
    [CV_STE_SERVICE_UNAVAILABLE] = {"service-unavailable", "cancel"},
    [CV_STE_SUBSCRIPTION_REQUIRED] = {"subscription-required", "auth"},
    [CV_STE_UNDEFINED_CONDITION] = {"undefined-condition", "cancel"},
    [CV_STE_UNEXPECTED_REQUEST] = {"unexpected-request", "wait"},
};

const char *cv_stanza_err_name(cv_stanza_err_t e)
{
    if ((unsigned)e >= CV_ARRAY_LEN(cv_stanza_errs))
        return "undefined-condition";
    return cv_stanza_errs[e].name;
}

const char *cv_stanza_err_type(cv_stanza_err_t e)
{
    if ((unsigned)e >= CV_ARRAY_LEN(cv_stanza_errs))
        return "cancel";
    return cv_stanza_errs[e].type;
}
