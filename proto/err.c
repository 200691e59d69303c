#include "twin/err.h"

const char *tw_strerror(int code)
{
    switch (code) {
    case TW_OK:        return "success";
    case TW_ENOMEM:    return "out of memory";
    case TW_EINVAL:    return "invalid value";
    case TW_ETRUNC:    return "input ends early";
    case TW_ETOOBIG:   return "limit exceeded";
    case TW_EDEPTH:    return "nested too deeply";
    case TW_ENONCANON: return "not in canonical form";
    case TW_EUTF8:     return "invalid UTF-8";
    case TW_ETYPE:     return "wrong or unsupported type";
    case TW_EBADSIG:   return "signature does not verify";
    case TW_ENETWORK:  return "belongs to another network";
    case TW_EFUTURE:   return "timestamp too far in the future";
    case TW_ESTALE:    return "older than the stored version";
    case TW_EEXIST:    return "already known";
    case TW_ENOTFOUND: return "not found";
    case TW_ESCHEMA:   return "record fails its schema";
    case TW_EIO:       return "input/output error";
    case TW_EFULL:     return "storage full";
    case TW_EPROTO:    return "protocol violation";
    case TW_EVERSION:  return "incompatible version";
    case TW_EDECRYPT:  return "decryption failed";
    case TW_ETIMEOUT:  return "timed out";
    case TW_ESTATE:    return "unexpected in this state";
    case TW_EPERM:     return "not permitted";
    case TW_EBUSY:     return "busy";
    case TW_ECLOSED:   return "connection closed";
    case TW_EKEY:      return "bad key";
    case TW_EINTERNAL: return "internal error";
    case TW_EREFUSED:  return "refused by policy";
    default:           return "unknown error";
    }
}
