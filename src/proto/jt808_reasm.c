/* jt808_reasm.c — JT/T 808 subpackage reassembly (see the contract in jt808.h).
 *
 * Each message in progress is a slot: its key (phone, msg id, first serial), the announced
 * total, and the packet bodies appended in arrival order to one buffer with a per-index
 * (offset, length) table. Memory is allocated when a message starts and freed when it completes,
 * expires, is evicted or breaks a bound; nothing is allocated for packets after the first except
 * bounded growth of the data buffer. */
#include "proto/jt808.h"

#include "base/err.h"
#include "base/mem.h"

#include <stdlib.h>
#include <string.h>

#define MISSING UINT32_MAX

struct slot {
    bool used;
    char phone[JT808_PHONE_MAX + 1];
    uint16_t msg_id;
    uint16_t first_serial;
    uint16_t total;
    uint16_t received;
    int64_t started_ms;
    struct jt808_header h; /* of the first packet received */
    uint32_t *off;         /* [total], MISSING until the packet arrives */
    uint32_t *len;         /* [total] */
    uint8_t *data;
    size_t data_len, data_cap;
    size_t charged; /* bytes charged to the budget for this slot */
};

struct jt808_reasm {
    struct jt808_reasm_limits lim;
    struct jt808_reasm_stats st;
    struct slot *slots; /* [lim.max_msgs] */
    uint8_t *out;       /* the last completed body (until the next call) */
    size_t out_cap;
};

/* Charges n more bytes to r's budget; false (nothing charged) when it would exceed the cap. */
static bool charge(jt808_reasm *r, size_t n)
{
    struct jt808_reasm_budget *b = r->lim.budget;
    if (!b)
        return true;
    if (n > b->cap || b->used > b->cap - n)
        return false;
    b->used += n;
    if (b->used > b->peak)
        b->peak = b->used;
    return true;
}

static void uncharge(jt808_reasm *r, size_t n)
{
    struct jt808_reasm_budget *b = r->lim.budget;
    if (b)
        b->used = b->used >= n ? b->used - n : 0;
}

static void out_release(jt808_reasm *r)
{
    if (r->out) {
        uncharge(r, r->out_cap);
        free(r->out);
        r->out = NULL;
        r->out_cap = 0;
    }
}

jt808_reasm *jt808_reasm_open(const struct jt808_reasm_limits *lim)
{
    jt808_reasm *r = pw_xcalloc(1, sizeof *r);
    if (lim)
        r->lim = *lim;
    if (!r->lim.max_msgs)
        r->lim.max_msgs = 4;
    if (!r->lim.max_packets)
        r->lim.max_packets = 256;
    if (!r->lim.max_bytes)
        r->lim.max_bytes = 256u << 10;
    if (r->lim.timeout_ms <= 0)
        r->lim.timeout_ms = 60000;
    r->slots = pw_xcalloc(r->lim.max_msgs, sizeof *r->slots);
    return r;
}

static void slot_clear(jt808_reasm *r, struct slot *s)
{
    uncharge(r, s->charged);
    free(s->off);
    free(s->len);
    free(s->data);
    memset(s, 0, sizeof *s);
}

void jt808_reasm_free(jt808_reasm *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->lim.max_msgs; i++)
        slot_clear(r, &r->slots[i]);
    free(r->slots);
    out_release(r);
    free(r);
}

int jt808_reasm_expire(jt808_reasm *r, int64_t now_ms)
{
    int n = 0;
    out_release(r);
    for (size_t i = 0; i < r->lim.max_msgs; i++) {
        struct slot *s = &r->slots[i];
        if (s->used && now_ms - s->started_ms > r->lim.timeout_ms) {
            slot_clear(r, s);
            r->st.expired++;
            n++;
        }
    }
    return n;
}

size_t jt808_reasm_pending(const jt808_reasm *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->lim.max_msgs; i++)
        n += r->slots[i].used;
    return n;
}

void jt808_reasm_get_stats(const jt808_reasm *r, struct jt808_reasm_stats *st)
{
    *st = r->st;
}

static struct slot *slot_find(jt808_reasm *r, const struct jt808_header *h, uint16_t first)
{
    for (size_t i = 0; i < r->lim.max_msgs; i++) {
        struct slot *s = &r->slots[i];
        if (s->used && s->msg_id == h->msg_id && s->first_serial == first &&
            strcmp(s->phone, h->phone_norm) == 0)
            return s;
    }
    return NULL;
}

/* A new slot for the message of h, or NULL when the budget cannot hold its tables. */
static struct slot *slot_new(jt808_reasm *r, const struct jt808_header *h, uint16_t first,
                             int64_t now_ms)
{
    struct slot *s = NULL;
    size_t tables = (sizeof *s->off + sizeof *s->len) * (size_t)h->pkt_total;
    for (size_t i = 0; i < r->lim.max_msgs && !s; i++)
        if (!r->slots[i].used)
            s = &r->slots[i];
    if (!s) { /* evict the oldest */
        s = &r->slots[0];
        for (size_t i = 1; i < r->lim.max_msgs; i++)
            if (r->slots[i].started_ms < s->started_ms)
                s = &r->slots[i];
        slot_clear(r, s);
        r->st.evicted++;
    }
    if (!charge(r, tables))
        return NULL;
    s->charged = tables;
    s->used = true;
    memcpy(s->phone, h->phone_norm, sizeof s->phone);
    s->msg_id = h->msg_id;
    s->first_serial = first;
    s->total = h->pkt_total;
    s->started_ms = now_ms;
    s->h = *h;
    s->off = pw_xmalloc(sizeof *s->off * h->pkt_total);
    s->len = pw_xcalloc(h->pkt_total, sizeof *s->len);
    for (size_t i = 0; i < h->pkt_total; i++)
        s->off[i] = MISSING;
    return s;
}

int jt808_reasm_add(jt808_reasm *r, const struct jt808_frame *f, int64_t now_ms,
                    struct jt808_header *h, const uint8_t **body, size_t *body_len)
{
    const struct jt808_header *fh = &f->h;
    jt808_reasm_expire(r, now_ms); /* also releases the previous body */
    if (!fh->subpackage || fh->pkt_total == 0 || fh->pkt_total > r->lim.max_packets ||
        fh->pkt_index == 0 || fh->pkt_index > fh->pkt_total) {
        r->st.bad++;
        return PW_EPROTO;
    }
    uint16_t first = (uint16_t)(fh->serial - (fh->pkt_index - 1));
    struct slot *s = slot_find(r, fh, first);
    if (s && s->total != fh->pkt_total) {
        slot_clear(r, s);
        r->st.bad++;
        return PW_EPROTO;
    }
    if (!s && !(s = slot_new(r, fh, first, now_ms))) {
        r->st.no_budget++;
        r->lim.budget->refused++;
        return PW_EFULL;
    }
    size_t idx = fh->pkt_index - 1;
    if (s->off[idx] != MISSING)
        return PW_EAGAIN; /* duplicate */
    if (f->body_len > r->lim.max_bytes - s->data_len) {
        slot_clear(r, s);
        r->st.too_big++;
        return PW_ETOOBIG;
    }
    if (s->data_len + f->body_len > s->data_cap) {
        size_t cap = s->data_cap ? s->data_cap : 2048;
        while (cap < s->data_len + f->body_len)
            cap *= 2;
        if (cap > r->lim.max_bytes)
            cap = r->lim.max_bytes;
        if (!charge(r, cap - s->data_cap)) {
            slot_clear(r, s);
            r->st.no_budget++;
            r->lim.budget->refused++;
            return PW_EFULL;
        }
        s->charged += cap - s->data_cap;
        s->data = pw_xrealloc(s->data, cap);
        s->data_cap = cap;
    }
    if (f->body_len)
        memcpy(s->data + s->data_len, f->body, f->body_len);
    s->off[idx] = (uint32_t)s->data_len;
    s->len[idx] = (uint32_t)f->body_len;
    s->data_len += f->body_len;
    if (++s->received < s->total)
        return PW_EAGAIN;

    /* the complete body moves from the slot's charge to out's */
    size_t cap = s->data_len ? s->data_len : 1;
    uncharge(r, s->charged);
    s->charged = 0;
    if (!charge(r, cap)) { /* cannot happen: the slot held at least as much */
        slot_clear(r, s);
        r->st.no_budget++;
        r->lim.budget->refused++;
        return PW_EFULL;
    }
    r->out = pw_xmalloc(cap);
    r->out_cap = cap;
    size_t k = 0;
    for (size_t i = 0; i < s->total; i++) {
        if (s->len[i])
            memcpy(r->out + k, s->data + s->off[i], s->len[i]);
        k += s->len[i];
    }
    *h = s->h;
    h->props &= (uint16_t)~JT808_PROP_SUB;
    h->subpackage = false;
    h->pkt_total = h->pkt_index = 0;
    h->serial = first;
    h->body_len = k > 0xFFFF ? 0xFFFF : (uint16_t)k;
    *body = r->out;
    *body_len = k;
    slot_clear(r, s);
    r->st.completed++;
    return PW_OK;
}
