/*
 * corvid/xmpp.h — protocol constants shared by every module: namespaces and the
 * stream and stanza error conditions of RFC 6120 §4.9.3 and §8.3.3.
 *
 * Owns no state; any thread may call.
 */
#ifndef CORVID_XMPP_H
#define CORVID_XMPP_H

#define CV_NS_STREAM "http://etherx.jabber.org/streams"
#define CV_NS_CLIENT "jabber:client"
#define CV_NS_SERVER "jabber:server"
#define CV_NS_COMPONENT "jabber:component:accept"
#define CV_NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define CV_NS_STANZAS_ERR "urn:ietf:params:xml:ns:xmpp-stanzas"
#define CV_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define CV_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define CV_NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define CV_NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define CV_NS_XML "http://www.w3.org/XML/1998/namespace"
#define CV_NS_PING "urn:xmpp:ping"
#define CV_NS_REGISTER "jabber:iq:register"
#define CV_NS_REGISTER_FEATURE "http://jabber.org/features/iq-register"
#define CV_NS_IQ_AUTH "jabber:iq:auth"
#define CV_NS_IQ_AUTH_FEATURE "http://jabber.org/features/iq-auth"
#define CV_NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define CV_NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define CV_NS_SASL_CB "urn:xmpp:sasl-cb:0"

/* RFC 6120 §4.9.3 stream error conditions. */
typedef enum cv_stream_err_e {
    CV_SE_NONE = 0,
    CV_SE_BAD_FORMAT,
    CV_SE_BAD_NAMESPACE_PREFIX,
    CV_SE_CONFLICT,
    CV_SE_CONNECTION_TIMEOUT,
    CV_SE_HOST_GONE,
    CV_SE_HOST_UNKNOWN,
    CV_SE_IMPROPER_ADDRESSING,
    CV_SE_INTERNAL_SERVER_ERROR,
    CV_SE_INVALID_FROM,
    CV_SE_INVALID_NAMESPACE,
    CV_SE_INVALID_XML,
    CV_SE_NOT_AUTHORIZED,
    CV_SE_NOT_WELL_FORMED,
    CV_SE_POLICY_VIOLATION,
    CV_SE_REMOTE_CONNECTION_FAILED,
    CV_SE_RESET,
    CV_SE_RESOURCE_CONSTRAINT,
    CV_SE_RESTRICTED_XML,
    CV_SE_SEE_OTHER_HOST,
    CV_SE_SYSTEM_SHUTDOWN,
    CV_SE_UNDEFINED_CONDITION,
    CV_SE_UNSUPPORTED_ENCODING,
    CV_SE_UNSUPPORTED_FEATURE,
    CV_SE_UNSUPPORTED_STANZA_TYPE,
    CV_SE_UNSUPPORTED_VERSION,
} cv_stream_err_t;

/* The element name of a condition, e.g. "not-well-formed". */
const char *cv_stream_err_name(cv_stream_err_t e);

/* RFC 6120 §8.3.3 stanza error conditions. */
typedef enum cv_stanza_err_e {
    CV_STE_BAD_REQUEST = 0,
    CV_STE_CONFLICT,
    CV_STE_FEATURE_NOT_IMPLEMENTED,
    CV_STE_FORBIDDEN,
    CV_STE_GONE,
    CV_STE_INTERNAL_SERVER_ERROR,
    CV_STE_ITEM_NOT_FOUND,
    CV_STE_JID_MALFORMED,
    CV_STE_NOT_ACCEPTABLE,
    CV_STE_NOT_ALLOWED,
    CV_STE_NOT_AUTHORIZED,
    CV_STE_POLICY_VIOLATION,
    CV_STE_RECIPIENT_UNAVAILABLE,
    CV_STE_REDIRECT,
    CV_STE_REGISTRATION_REQUIRED,
    CV_STE_REMOTE_SERVER_NOT_FOUND,
    CV_STE_REMOTE_SERVER_TIMEOUT,
    CV_STE_RESOURCE_CONSTRAINT,
    CV_STE_SERVICE_UNAVAILABLE,
    CV_STE_SUBSCRIPTION_REQUIRED,
    CV_STE_UNDEFINED_CONDITION,
    CV_STE_UNEXPECTED_REQUEST,
} cv_stanza_err_t;

/* The element name of a condition, e.g. "service-unavailable". */
const char *cv_stanza_err_name(cv_stanza_err_t e);
/* The default error type RFC 6120 §8.3.3 gives the condition: "cancel", "modify", … */
const char *cv_stanza_err_type(cv_stanza_err_t e);

#endif
