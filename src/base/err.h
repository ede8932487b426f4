/* err.h — the project-wide error codes. Functions return an int that is PW_OK (0) or one of
 * these negative values, and write results through out-pointers. The enum only grows: values
 * are never renumbered because they appear in logs and metrics. */
#ifndef PW_ERR_H
#define PW_ERR_H

enum pw_err {
    PW_OK = 0,
    PW_ENOMEM = -1,     /* allocation failed */
    PW_EINVAL = -2,     /* bad argument or malformed input */
    PW_EIO = -3,        /* I/O error from the OS */
    PW_ENOSPC = -4,     /* disk full */
    PW_ECORRUPT = -5,   /* on-disk data failed a check (checksum, magic, bounds) */
    PW_ENOTFOUND = -6,  /* no such thing */
    PW_EEXIST = -7,     /* already exists */
    PW_ERANGE = -8,     /* value out of bounds */
    PW_EPROTO = -9,     /* protocol violation (framing, checksum, length) */
    PW_EAUTH = -10,     /* authentication failed */
    PW_EPERM = -11,     /* authenticated but not allowed */
    PW_EFULL = -12,     /* a bounded buffer or table is full */
    PW_ETIMEDOUT = -13, /* deadline passed */
    PW_ECLOSED = -14,   /* the thing was shut down */
    PW_EAGAIN = -15,    /* incomplete input: call again with more */
    PW_EDB = -16,       /* SQLite error */
    PW_ECONFIG = -17,   /* configuration refused */
    PW_ETOOBIG = -18,   /* input larger than its bound */
    PW_ECONFLICT = -19, /* state does not allow the operation */
    PW_EROFS = -20,     /* read-only file system */
};

/* A short English description of `err`, never NULL; unknown values give "unknown error". */
const char *pw_strerror(int err);

/* The symbolic name ("PW_ENOSPC") for logs and metrics labels. */
const char *pw_errname(int err);

#endif
