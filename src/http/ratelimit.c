/* ratelimit.c — login rate limiting: per-address, per-name and per-trusted-client budgets in
 * fixed tables (the policy and its reasons: ratelimit_int.h). */
#include "http/ratelimit_int.h"

#include "base/hash.h"
#include "base/mem.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rl_slot {
    uint64_t key;    /* 0 = free */
    int64_t tat;     /* GCRA theoretical arrival time (ms); bucket full when tat <= now */
    int64_t trusted; /* pair table: trusted until this time (ms); 0 = not trusted */
};

enum rl_evict {
    EVICT_REFILLED, /* only slots whose bucket has refilled completely */
    EVICT_OLDEST,   /* else the slot with the oldest tat (names that are not accounts) */
};

struct rl_table {
    struct rl_slot *slots;
    size_t cap, used;
    enum rl_evict evict;
    struct rl_slot overflow; /* shared by keys that found no slot (addresses) */
    bool has_overflow;
};

struct ratelimit {
    pthread_mutex_t lock;
    uint64_t seed;
    unsigned char key[crypto_auth_KEYBYTES]; /* device cookies */
    struct rl_table addr, name, ghost, pair;
};

static void table_init(struct rl_table *t, size_t cap, enum rl_evict ev, bool overflow)
{
    t->slots = pw_xcalloc(cap, sizeof *t->slots);
    t->cap = cap;
    t->evict = ev;
    t->has_overflow = overflow;
}

struct ratelimit *ratelimit_new(void)
{
    struct ratelimit *rl = pw_xcalloc(1, sizeof *rl);
    pthread_mutex_init(&rl->lock, NULL);
    randombytes_buf(&rl->seed, sizeof rl->seed);
    crypto_auth_keygen(rl->key);
    table_init(&rl->addr, RL_ADDR_SLOTS, EVICT_REFILLED, true);
    table_init(&rl->name, RL_NAME_SLOTS, EVICT_REFILLED, false);
    table_init(&rl->ghost, RL_GHOST_SLOTS, EVICT_OLDEST, false);
    table_init(&rl->pair, RL_PAIR_SLOTS, EVICT_REFILLED, false);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    free(rl->addr.slots);
    free(rl->name.slots);
    free(rl->ghost.slots);
    free(rl->pair.slots);
    sodium_memzero(rl->key, sizeof rl->key);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

static uint64_t key_of(const struct ratelimit *rl, char kind, const void *a, size_t alen,
                       const void *b, size_t blen)
{
    uint64_t h = pw_hash64(a, alen, rl->seed ^ (uint64_t)(unsigned char)kind);
    if (b)
        h = pw_hash64(b, blen, h);
    return h ? h : 1;
}

/* The address as a key: IPv4 whole, IPv6 its /64 (one host usually has a whole /64). */
static uint64_t addr_key(const struct ratelimit *rl, const char *addr)
{
    unsigned char in6[16];
    if (strchr(addr, ':') && inet_pton(AF_INET6, addr, in6) == 1) {
        bool v4mapped = memcmp(in6, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
        return v4mapped ? key_of(rl, '4', in6 + 12, 4, NULL, 0) : key_of(rl, '6', in6, 8, NULL, 0);
    }
    unsigned char in4[4];
    if (inet_pton(AF_INET, addr, in4) == 1)
        return key_of(rl, '4', in4, 4, NULL, 0);
    return key_of(rl, '?', addr, strlen(addr), NULL, 0);
}

/* The slot of key (claimed when absent and create), or NULL. Caller holds the lock. */
static struct rl_slot *table_find(struct rl_table *t, uint64_t key, bool create, int64_t now)
{
    struct rl_slot *reuse = NULL, *oldest = NULL;
    for (size_t i = 0; i < RL_PROBE; i++) {
        struct rl_slot *sl = &t->slots[(key + i) % t->cap];
        if (sl->key == key)
            return sl;
        if (!create)
            continue;
        bool free_slot = sl->key == 0 || (sl->tat <= now && sl->trusted <= now);
        if (free_slot && !reuse)
            reuse = sl;
        if (!oldest || sl->tat < oldest->tat)
            oldest = sl;
    }
    if (!create)
        return NULL;
    if (!reuse && t->evict == EVICT_OLDEST)
        reuse = oldest;
    if (!reuse)
        return t->has_overflow ? &t->overflow : NULL;
    if (reuse->key == 0)
        t->used++;
    *reuse = (struct rl_slot){.key = key, .tat = now, .trusted = 0};
    return reuse;
}

void ratelimit_cookie(struct ratelimit *rl, const char *name, int64_t now_ms, char *out, size_t cap)
{
    char msg[128];
    unsigned char mac[crypto_auth_BYTES];
    char
        b64[sodium_base64_ENCODED_LEN(crypto_auth_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    int n = snprintf(msg, sizeof msg, "%" PRId64 ":%s", now_ms, name);
    crypto_auth(mac, (const unsigned char *)msg, n > 0 && (size_t)n < sizeof msg ? (size_t)n : 0,
                rl->key);
    sodium_bin2base64(b64, sizeof b64, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, cap, "%" PRId64 ".%s", now_ms, b64);
}

/* Whether cookie is a device cookie this daemon issued for name, not older than its max age. */
static bool cookie_valid(struct ratelimit *rl, const char *cookie, const char *name, int64_t now)
{
    char want[RL_COOKIE_CAP];
    char *end;
    if (!cookie || strlen(cookie) >= RL_COOKIE_CAP)
        return false;
    long long issued = strtoll(cookie, &end, 10);
    if (end == cookie || *end != '.' || issued > now || now - issued > RL_COOKIE_MAX_AGE_MS)
        return false;
    ratelimit_cookie(rl, name, (int64_t)issued, want, sizeof want);
    size_t n = strlen(want);
    return strlen(cookie) == n && sodium_memcmp(cookie, want, n) == 0;
}

void ratelimit_attempt_init(struct ratelimit *rl, struct rl_attempt *a, const char *name,
                            bool account_exists, const char *addr, const char *cookie,
                            int64_t now_ms)
{
    memset(a, 0, sizeof *a);
    size_t nl = strlen(name);
    a->addr = addr_key(rl, addr);
    a->name = key_of(rl, 'n', name, nl, NULL, 0);
    a->account = account_exists;
    if (account_exists && cookie_valid(rl, cookie, name, now_ms)) {
        a->trusted = true;
        a->pair = key_of(rl, 'c', cookie, strlen(cookie), name, nl);
        return;
    }
    uint64_t pk = key_of(rl, 'p', name, nl + 1, &a->addr, sizeof a->addr);
    pthread_mutex_lock(&rl->lock);
    struct rl_slot *p = table_find(&rl->pair, pk, false, now_ms);
    if (account_exists && p && p->trusted > now_ms) {
        a->trusted = true;
        a->pair = pk;
    }
    pthread_mutex_unlock(&rl->lock);
}

/* ms until a token is available in sl (0 = now). */
static int64_t bucket_wait(const struct rl_slot *sl, int64_t interval, int burst, int64_t now)
{
    int64_t tat = sl->tat > now ? sl->tat : now;
    int64_t allowed_at = tat - (int64_t)(burst - 1) * interval; /* earliest time tat fits */
    return allowed_at > now ? allowed_at - now : 0;
}

static void bucket_take(struct rl_slot *sl, int64_t interval, int64_t now)
{
    sl->tat = (sl->tat > now ? sl->tat : now) + interval;
}

static void bucket_give(struct rl_slot *sl, int64_t interval)
{
    sl->tat -= interval;
}

int64_t ratelimit_charge(struct ratelimit *rl, struct rl_attempt *a, int burst, int64_t window_ms,
                         int64_t now)
{
    if (burst < 1)
        burst = 1;
    /* [0]: the address (RL_ADDR_FACTOR × burst) or the trusted pair; [1]: the name */
    int bursts[2] = {a->trusted ? burst : RL_ADDR_FACTOR * burst, burst};
    int64_t iv[2];
    for (int i = 0; i < 2; i++)
        iv[i] = window_ms / bursts[i] > 0 ? window_ms / bursts[i] : 1;
    int64_t wait = 0;
    pthread_mutex_lock(&rl->lock);
    struct rl_slot *s[2] = {NULL, NULL};
    if (a->trusted) {
        s[0] = table_find(&rl->pair, a->pair, true, now);
    } else {
        s[0] = table_find(&rl->addr, a->addr, true, now);
        s[1] = table_find(a->account ? &rl->name : &rl->ghost, a->name, true, now);
        if (!s[1])
            wait = iv[1]; /* no slot for this account's budget: refuse rather than not count */
    }
    if (!s[0])
        wait = iv[0];
    for (int i = 0; i < 2; i++) {
        if (!s[i])
            continue;
        int64_t w = bucket_wait(s[i], iv[i], bursts[i], now);
        if (w > wait)
            wait = w;
    }
    if (!wait) {
        for (int i = 0; i < 2; i++)
            if (s[i])
                bucket_take(s[i], iv[i], now);
        a->charged_pair = a->trusted;
        a->charged_addr = !a->trusted;
        a->charged_name = !a->trusted;
    }
    pthread_mutex_unlock(&rl->lock);
    return wait;
}

void ratelimit_success(struct ratelimit *rl, struct rl_attempt *a, const char *name,
                       const char *addr, int burst, int64_t window_ms, int64_t now)
{
    if (burst < 1)
        burst = 1;
    int64_t iv = window_ms / burst > 0 ? window_ms / burst : 1;
    int64_t iv_addr =
        window_ms / (RL_ADDR_FACTOR * burst) > 0 ? window_ms / (RL_ADDR_FACTOR * burst) : 1;
    pthread_mutex_lock(&rl->lock);
    struct rl_slot *sl;
    if (a->charged_pair && (sl = table_find(&rl->pair, a->pair, false, now)))
        bucket_give(sl, iv);
    if (a->charged_addr && (sl = table_find(&rl->addr, a->addr, true, now)))
        bucket_give(sl, iv_addr);
    if (a->charged_name &&
        (sl = table_find(a->account ? &rl->name : &rl->ghost, a->name, false, now)))
        bucket_give(sl, iv);
    /* trust this (name, address) from now on: its own budget, full */
    size_t nl = strlen(name);
    uint64_t ak = addr_key(rl, addr);
    uint64_t pk = key_of(rl, 'p', name, nl + 1, &ak, sizeof ak);
    sl = table_find(&rl->pair, pk, true, now);
    if (!sl) {
        /* run full of trusted pairs: forget the one trusted longest ago */
        struct rl_slot *oldest = NULL;
        for (size_t i = 0; i < RL_PROBE; i++) {
            struct rl_slot *c = &rl->pair.slots[(pk + i) % rl->pair.cap];
            if (!oldest || c->trusted < oldest->trusted)
                oldest = c;
        }
        sl = oldest;
        *sl = (struct rl_slot){.key = pk, .tat = now};
    }
    sl->trusted = now + RL_TRUST_MS;
    if (sl->tat > now)
        sl->tat = now; /* the password was right: this client's budget is full again */
    a->charged_addr = a->charged_name = a->charged_pair = false;
    pthread_mutex_unlock(&rl->lock);
}

size_t ratelimit_used(struct ratelimit *rl)
{
    pthread_mutex_lock(&rl->lock);
    size_t n = rl->addr.used + rl->name.used + rl->ghost.used + rl->pair.used;
    pthread_mutex_unlock(&rl->lock);
    return n;
}
