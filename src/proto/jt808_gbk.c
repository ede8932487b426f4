/* jt808_gbk.c — GBK <-> UTF-8 for registration strings (plates), via glibc iconv(3). Each call
 * opens and closes its own conversion descriptor: no state outlives a call, so the codec stays
 * pure and thread-safe. Registration is rare, so the iconv_open cost does not matter. */
#include "proto/jt808.h"

#include "base/err.h"

#include <errno.h>
#include <iconv.h>

static int convert(const char *to, const char *from, const void *in, size_t n, void *out,
                   size_t cap, size_t *out_len, bool nul)
{
    int rc = PW_OK;
    if (nul && cap == 0)
        return PW_ETOOBIG;
    iconv_t cd = iconv_open(to, from);
    if (cd == (iconv_t)-1)
        return PW_EINVAL;
    char *ip = (char *)(uintptr_t)in, *op = out;
    size_t il = n, ol = nul ? cap - 1 : cap;
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1)
        rc = errno == E2BIG ? PW_ETOOBIG : PW_EINVAL;
    else if (iconv(cd, NULL, NULL, &op, &ol) == (size_t)-1)
        rc = PW_ETOOBIG;
    iconv_close(cd);
    size_t w = (size_t)(op - (char *)out);
    if (nul)
        ((char *)out)[rc == PW_OK ? w : 0] = '\0';
    if (rc == PW_OK && out_len)
        *out_len = w;
    return rc;
}

int jt808_gbk_to_utf8(const uint8_t *in, size_t n, char *out, size_t cap, size_t *out_len)
{
    return convert("UTF-8", "GB18030", in, n, out, cap, out_len, true);
}

int jt808_utf8_to_gbk(const char *in, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    return convert("GBK", "UTF-8", in, n, out, cap, out_len, false);
}
