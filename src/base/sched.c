/* sched.c — see sched.h. sched_setattr has no glibc wrapper before 2.41. */
#include "base/sched.h"

#include <errno.h>
#include <linux/sched.h> /* SCHED_NORMAL */
#include <linux/sched/types.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int pw_sched_short_slice(uint64_t slice_ns)
{
    struct sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.sched_policy = SCHED_NORMAL;
    a.sched_runtime = slice_ns; /* the custom slice of a fair-class thread */
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0)
        return -errno;
    return 0;
}
