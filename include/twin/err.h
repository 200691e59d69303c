/*
 * One error convention for the whole project: functions return int, 0 for
 * success or one of these negative codes.  tw_strerror() turns a code into a
 * message.  LMDB, libuv and msgpack codes are translated where they are met.
 */
#ifndef TWIN_ERR_H
#define TWIN_ERR_H

enum {
    TW_OK        = 0,
    TW_ENOMEM    = -1,   /* out of memory */
    TW_EINVAL    = -2,   /* invalid argument or value */
    TW_ETRUNC    = -3,   /* input ends early */
    TW_ETOOBIG   = -4,   /* a limit is exceeded */
    TW_EDEPTH    = -5,   /* nesting too deep */
    TW_ENONCANON = -6,   /* not in canonical form */
    TW_EUTF8     = -7,   /* invalid UTF-8 */
    TW_ETYPE     = -8,   /* wrong or unsupported type */
    TW_EBADSIG   = -9,   /* signature does not verify */
    TW_ENETWORK  = -10,  /* belongs to another network */
    TW_EFUTURE   = -11,  /* timestamp too far in the future */
    TW_ESTALE    = -12,  /* older than what is stored */
    TW_EEXIST    = -13,  /* already known */
    TW_ENOTFOUND = -14,  /* no such thing */
    TW_ESCHEMA   = -15,  /* record fails its schema */
    TW_EIO       = -16,  /* input/output error */
    TW_EFULL     = -17,  /* storage full (map ceiling reached or disk full) */
    TW_EPROTO    = -18,  /* protocol violation */
    TW_EVERSION  = -19,  /* incompatible version */
    TW_EDECRYPT  = -20,  /* authentication of ciphertext failed */
    TW_ETIMEOUT  = -21,  /* timed out */
    TW_ESTATE    = -22,  /* unexpected in this state */
    TW_EPERM     = -23,  /* not permitted */
    TW_EBUSY     = -24,  /* resource busy / locked */
    TW_ECLOSED   = -25,  /* connection closed */
    TW_EKEY      = -26,  /* bad key (weak, small-order, malformed) */
    TW_EINTERNAL = -27,  /* internal error (a bug) */
    TW_EREFUSED  = -28,  /* refused by policy (trust, admission) */
};

const char *tw_strerror(int code);

#endif
