/* err.c — names and descriptions of enum pw_err. */
#include "base/err.h"

#include <stddef.h>

static const struct {
    int code;
    const char *name;
    const char *text;
} errs[] = {
    {PW_OK, "PW_OK", "success"},
    {PW_ENOMEM, "PW_ENOMEM", "out of memory"},
    {PW_EINVAL, "PW_EINVAL", "invalid argument or input"},
    {PW_EIO, "PW_EIO", "input/output error"},
    {PW_ENOSPC, "PW_ENOSPC", "no space left on device"},
    {PW_ECORRUPT, "PW_ECORRUPT", "data corrupt"},
    {PW_ENOTFOUND, "PW_ENOTFOUND", "not found"},
    {PW_EEXIST, "PW_EEXIST", "already exists"},
    {PW_ERANGE, "PW_ERANGE", "value out of range"},
    {PW_EPROTO, "PW_EPROTO", "protocol error"},
    {PW_EAUTH, "PW_EAUTH", "authentication failed"},
    {PW_EPERM, "PW_EPERM", "permission denied"},
    {PW_EFULL, "PW_EFULL", "capacity exhausted"},
    {PW_ETIMEDOUT, "PW_ETIMEDOUT", "timed out"},
    {PW_ECLOSED, "PW_ECLOSED", "closed"},
    {PW_EAGAIN, "PW_EAGAIN", "incomplete, try again"},
    {PW_EDB, "PW_EDB", "database error"},
    {PW_ECONFIG, "PW_ECONFIG", "configuration error"},
    {PW_ETOOBIG, "PW_ETOOBIG", "too large"},
    {PW_ECONFLICT, "PW_ECONFLICT", "conflicting state"},
    {PW_EROFS, "PW_EROFS", "read-only file system"},
};

const char *pw_strerror(int err)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (errs[i].code == err)
            return errs[i].text;
    return "unknown error";
}

const char *pw_errname(int err)
{
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (errs[i].code == err)
            return errs[i].name;
    return "PW_EUNKNOWN";
}
