/* mem.h — allocation. The pw_x* functions abort the process on out-of-memory (as Redis's
 * zmalloc does): a supervision daemon that cannot allocate a few bytes cannot do anything
 * useful, and checking every small allocation would hide the real error paths. Large or
 * input-sized allocations must be bounded before they are made. */
#ifndef PW_MEM_H
#define PW_MEM_H

#include <stddef.h>

void *pw_xmalloc(size_t n);
void *pw_xcalloc(size_t nmemb, size_t size);
void *pw_xrealloc(void *p, size_t n);
char *pw_xstrdup(const char *s);
char *pw_xstrndup(const char *s, size_t n);

#define PW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
