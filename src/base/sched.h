/* sched.h — asking the kernel to wake a latency-critical thread promptly.
 *
 * On a busy machine a thread that wakes up (the pipeline writer when a reading arrives, an SSE
 * connection when an alarm event is published) may wait for the CPU until the thread running
 * there ends its time slice — milliseconds with the default slice. Linux's EEVDF scheduler (6.6+)
 * lets a normal (SCHED_OTHER) thread ask for a shorter slice; its deadlines are then earlier, so
 * it preempts bulk work (parsing a large /write body) when it wakes, and runs in short turns. It
 * needs no privilege and does not change the thread's share of the CPU. */
#ifndef PW_BASE_SCHED_H
#define PW_BASE_SCHED_H

#include <stdint.h>

#define PW_SHORT_SLICE_NS 100000 /* 0.1 ms, the shortest the kernel accepts */

/* Requests slice_ns for the calling thread. Returns 0, or -errno where the kernel does not
 * support it (older kernels: EINVAL; then nothing changes and the caller carries on). */
int pw_sched_short_slice(uint64_t slice_ns);

#endif
