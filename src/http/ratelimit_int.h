/* ratelimit_int.h — login rate limiting (ratelimit.c), internal to src/http and its unit test.
 *
 * Policy (docs/operations.md, "Login rate limiting"). Every budget is a token bucket of `burst`
 * failed logins (auth.login_max_failures) that refills one token every `window / burst`
 * (auth.login_window / auth.login_max_failures), kept as a GCRA theoretical arrival time (one
 * int64 per key). An attempt reserves a token from each budget it is subject to before the
 * password is checked (so parallel attempts cannot overdraw) and a success gives them back.
 *
 *   untrusted attempt for name N from address A:  budget(A) and budget(N)
 *   trusted attempt: A logged in as N successfully  budget(N, A) only
 *   within the trust period, or the client shows
 *   a valid device cookie for N (issued at a
 *   successful login):                            budget(N, cookie) only
 *
 * So an attacker, from any number of addresses, gets at most burst + (elapsed / (window /
 * burst)) guesses at a name, and cannot lock out its user on the addresses and browsers the user
 * logged in from before. An address (IPv6: its /64) that fails gets slowed by its own budget,
 * RL_ADDR_FACTOR times a name's (a control-room PC is shared by several people).
 *
 * Memory: three fixed tables (addresses, names, trusted pairs) with short probe runs; nothing is
 * allocated per request. A slot is reused only when its bucket has refilled completely (it then
 * means nothing) — an attacker flooding the tables with new keys cannot reset a budget: a key that
 * finds no reusable slot in its run shares the one overflow bucket of its table (addresses), or
 * is refused (names of accounts: only existing accounts get a slot there, so only a park with
 * more accounts under attack than the table holds could get there). Names that are not accounts
 * have their own table, in which the oldest entry gives way (no account is at stake; they exist
 * so that a 429 does not tell which names are accounts). Trust slots are created by successful
 * logins only; when their run is full the oldest trust is forgotten. */
#ifndef PW_HTTP_RATELIMIT_INT_H
#define PW_HTTP_RATELIMIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RL_ADDR_SLOTS 16384
#define RL_NAME_SLOTS 16384
#define RL_PAIR_SLOTS 16384
#define RL_GHOST_SLOTS 4096
#define RL_PROBE 16
#define RL_ADDR_FACTOR 4 /* an address may fail this many times a name's burst (shared PCs) */
#define RL_TRUST_MS (INT64_C(30) * 86400 * 1000) /* a successful login trusts (name, address) */
#define RL_COOKIE_MAX_AGE_MS (INT64_C(90) * 86400 * 1000)
#define RL_COOKIE_CAP 128

struct ratelimit;

struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);

/* What one login attempt is subject to; filled by ratelimit_attempt_init. */
struct rl_attempt {
    uint64_t addr, name, pair; /* table keys */
    bool account;              /* name is an existing account (else: the table of other names) */
    bool trusted;
    bool charged_addr, charged_name, charged_pair;
};

/* Classifies an attempt: `account_exists` says whether `name` is a user; `cookie` is the
 * pw_device cookie the client sent (NULL when none). */
void ratelimit_attempt_init(struct ratelimit *rl, struct rl_attempt *a, const char *name,
                            bool account_exists, const char *addr, const char *cookie,
                            int64_t now_ms);
/* Reserves one failure from every budget of the attempt. Returns 0 when allowed (reserved), or
 * the milliseconds until the attempt would be allowed (nothing reserved). */
int64_t ratelimit_charge(struct ratelimit *rl, struct rl_attempt *a, int burst, int64_t window_ms,
                         int64_t now_ms);
/* A successful login: gives back what was reserved and trusts (name, address). */
void ratelimit_success(struct ratelimit *rl, struct rl_attempt *a, const char *name,
                       const char *addr, int burst, int64_t window_ms, int64_t now_ms);
/* A device cookie for `name` issued now, into out (RL_COOKIE_CAP bytes). */
void ratelimit_cookie(struct ratelimit *rl, const char *name, int64_t now_ms, char *out,
                      size_t cap);
/* Slots in use in the three tables (tests: memory stays bounded). */
size_t ratelimit_used(struct ratelimit *rl);

#endif
