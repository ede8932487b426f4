/* mem.c — allocation that aborts on out-of-memory. */
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "level=fatal mod=base msg=\"out of memory\" bytes=%zu\n", n);
    abort();
}

void *pw_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *pw_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *pw_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *pw_xstrdup(const char *s)
{
    return pw_xstrndup(s, strlen(s));
}

char *pw_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = pw_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
