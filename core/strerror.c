#include <string.h>

#include "corvid/core.h"

const char *cv_strerror(int code)
{
    switch (code) {
    case 0: return "success";
    case CV_AGAIN: return "try again";
    case CV_ENOMEM: return "out of memory";
    case CV_EINVAL: return "invalid argument or input";
    case CV_ENOTFOUND: return "not found";
    case CV_EEXIST: return "already exists";
    case CV_ELIMIT: return "limit reached";
    case CV_EPROTO: return "protocol violation";
    case CV_ESTORE: return "storage failure";
    case CV_ECONFIG: return "invalid configuration";
    case CV_EAUTH: return "authentication failed";
    case CV_ETLS: return "TLS failure";
    case CV_ECLOSED: return "closed";
    case CV_EUNSUPP: return "not supported";
    default: break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}
