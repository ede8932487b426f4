/* dirlock.h — one writer per data directory.
 *
 * `parkwatch serve` (and the offline commands that write the time-series store: fsck's offline
 * check, flush without a daemon) hold an exclusive flock(2) on <data>/lock for as long as they
 * run. The file holds who holds it, one `key=value` a line:
 *     pid=1234
 *     command=serve
 *     since=2026-12-04T18:30:00Z
 * The kernel releases the lock when the process exits however it exits (kill -9 included), so
 * a stale file never blocks a start: only a live holder does. The pid written there is how
 * `parkwatch flush` reaches a running daemon. */
#ifndef PW_DIRLOCK_H
#define PW_DIRLOCK_H

#include <sys/types.h>

struct pw_dirlock {
    int fd; /* -1 when not held */
};

struct pw_dirlock_holder {
    pid_t pid;         /* 0 when the file did not say */
    char command[32];  /* "serve", "fsck", "flush"; "" when unknown */
    char since[40];
};

/* Takes the lock of data directory dir (which must exist), writing our pid and `command`.
 * PW_OK; PW_ECONFLICT when another process holds it (*h filled in, may be NULL); PW_EROFS /
 * PW_EPERM / PW_ENOSPC / PW_EIO when the lock file cannot be created. */
int pw_dirlock_take(const char *dir, const char *command, struct pw_dirlock *l,
                    struct pw_dirlock_holder *h);
/* Releases the lock (no-op when not held). The file stays (it only says who held it last). */
void pw_dirlock_release(struct pw_dirlock *l);
/* Who holds the lock of dir, without taking it and without creating anything: PW_OK and *h
 * when a live process holds it; PW_ENOTFOUND when nobody does (or there is no lock file). */
int pw_dirlock_probe(const char *dir, struct pw_dirlock_holder *h);

#endif
