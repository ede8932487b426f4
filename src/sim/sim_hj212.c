/* sim_hj212.c — HJ 212-2017 stations: a TCP client per station that uploads real-time data
 * (2011, every 30 s), minute data (2051, every minute) and hour data (2061, every hour) with the
 * A bit set, checks each 9014 (QN echoed in order, ST 91, MN, Flag 4, CRC by decoding), answers
 * the platform's requests (1012 time set and others: 9011 + 9012) and its history recalls
 * (2051/2061 with BeginTime/EndTime: 9011, the records from the station's history, 9012), and
 * plays network outages: the station disconnects, keeps recording into its history without
 * sending, and on reconnecting sends new data only, so the platform recalls the gap. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define RTD_MS 30000
#define MIN_MS 60000
#define HOUR_MS 3600000

static void pend_push(struct sim_station *st, const char *qn)
{
    if (st->pend_n >= SIM_PEND)
        return;
    int i = (st->pend_head + st->pend_n++) % SIM_PEND;
    snprintf(st->pend[i], sizeof st->pend[i], "%s", qn);
}

static void next_qn(struct sim *s, struct sim_station *st, char qn[18])
{
    int64_t q = s->now > st->last_qn ? s->now : st->last_qn + 1;
    st->last_qn = q;
    hj212_format_qn(q, s->utc_off, qn);
}

/* Sends one upload (split as the codec decides); each packet's QN is awaited. */
static int upload(struct sim *s, struct sim_dev *d, int cn, int64_t data_ms,
                  const struct hj212_value *items, size_t n)
{
    struct sim_station *st = d->st;
    static char out[8 * HJ212_MAX_FRAME];
    char qn[18];
    size_t len, np = 0;
    struct hj212_datetime dt;
    hj212_datetime_from_ms(data_ms, s->utc_off, &dt);
    next_qn(s, st, qn);
    struct hj212_upload u = {.qn = qn, .st = st->st, .cn = cn, .pw = st->pw, .mn = st->mn,
                             .edition = HJ212_ED_2017, .ack = true, .data_time = &dt,
                             .items = items, .n_items = n};
    int rc = hj212_encode_upload(out, sizeof out, &len, &np, &u);
    if (rc != PW_OK) {
        sim_error(s, "hj212 %s: encode cn %d failed: %s", d->id, cn, pw_errname(rc));
        return rc;
    }
    if ((rc = sim_conn_send(&st->c, out, len)) != PW_OK)
        return rc;
    for (size_t i = 0; i < np; i++)
        pend_push(st, qn);
    s->hj_frames += np;
    return PW_OK;
}

static void send_rtd(struct sim *s, struct sim_dev *d, int64_t t)
{
    struct sim_station *st = d->st;
    struct hj212_value it[2 * SIM_ST_VALS];
    size_t n = 0;
    for (int i = 0; i < d->nv; i++) {
        struct sim_val *v = &d->v[i];
        it[n++] = (struct hj212_value){.code = v->name, .suffix = HJ212_SFX_RTD,
                                       .value = sim_value(s, d, v, t), .decimals = v->decimals};
        it[n++] = (struct hj212_value){.code = v->name, .suffix = HJ212_SFX_FLAG, .text = "N"};
    }
    if (upload(s, d, 2011, t, it, n) == PW_OK) {
        st->n_rtd++;
        for (int i = 0; i < d->nv; i++)
            st->cnt_rtd[i]++;
    }
}

/* Statistics of the period [t0, t0 + len) from samples every step. */
static void period_rec(struct sim *s, struct sim_dev *d, int64_t t0, int64_t len, int64_t step,
                       struct sim_hrec *r)
{
    memset(r, 0, sizeof *r);
    r->t = t0;
    for (int i = 0; i < d->nv && i < SIM_ST_VALS; i++) {
        double mn = INFINITY, mx = -INFINITY, sum = 0;
        int k = 0;
        for (int64_t t = t0; t < t0 + len; t += step, k++) {
            double x = sim_value(s, d, &d->v[i], t);
            mn = fmin(mn, x), mx = fmax(mx, x), sum += x;
        }
        r->min[i] = (float)mn, r->avg[i] = (float)(sum / k), r->max[i] = (float)mx;
    }
}

static int send_rec(struct sim *s, struct sim_dev *d, int cn, struct sim_hrec *r)
{
    struct sim_station *st = d->st;
    struct hj212_value it[4 * SIM_ST_VALS];
    size_t n = 0;
    for (int i = 0; i < d->nv && i < SIM_ST_VALS; i++) {
        const struct sim_val *v = &d->v[i];
        it[n++] = (struct hj212_value){.code = v->name, .suffix = HJ212_SFX_MIN,
                                       .value = r->min[i], .decimals = v->decimals};
        it[n++] = (struct hj212_value){.code = v->name, .suffix = HJ212_SFX_AVG,
                                       .value = r->avg[i], .decimals = v->decimals};
        it[n++] = (struct hj212_value){.code = v->name, .suffix = HJ212_SFX_MAX,
                                       .value = r->max[i], .decimals = v->decimals};
        it[n++] = (struct hj212_value){.code = v->name, .suffix = HJ212_SFX_FLAG, .text = "N"};
    }
    int rc = upload(s, d, cn, r->t, it, n);
    if (rc == PW_OK && !r->sent) {
        r->sent = true;
        for (int i = 0; i < d->nv && i < SIM_ST_VALS; i++)
            (cn == 2051 ? st->cnt_min : st->cnt_hour)[i]++;
        *(cn == 2051 ? &st->n_min : &st->n_hour) += 1;
    }
    return rc;
}

static bool online(const struct sim_station *st)
{
    return st->c.fd >= 0 && st->c.up && !st->in_outage;
}

void sim_hj212_tick(struct sim *s, struct sim_dev *d)
{
    struct sim_station *st = d->st;
    if (!st->next_rtd) {
        st->next_rtd = sim_next_slot(s->clk.start_ms, RTD_MS, 0);
        st->next_min = sim_next_slot(s->clk.start_ms, MIN_MS, 0) + MIN_MS;
        st->next_hour = sim_next_slot(s->clk.start_ms, HOUR_MS, 0) + HOUR_MS;
    }
    /* outage: go quiet once every upload so far is answered, come back at its end */
    if (st->outage_from && !st->in_outage && s->now >= st->outage_from &&
        s->now < st->outage_to && (st->pend_n == 0 || s->now >= st->outage_from + 60000)) {
        st->in_outage = true;
        s->hj_outages++;
        st->pend_n = 0;
        sim_conn_close(&st->c, 0);
        PW_LOG_INFO("sim", "hj212 outage begins", "device=%s mn=%s", d->id, st->mn);
    }
    if (st->in_outage && s->now >= st->outage_to) {
        st->in_outage = false;
        st->outage_from = 0;
        PW_LOG_INFO("sim", "hj212 outage ends", "device=%s", d->id);
    }
    if (st->c.fd < 0 && !st->in_outage && s->wall >= st->c.retry_wall) {
        if (sim_conn_start(&st->c, s->hj_host, s->hj_port) != PW_OK)
            sim_conn_close(&st->c, s->wall + 1000);
    }
    while (st->next_rtd <= s->now) {
        if (online(st))
            send_rtd(s, d, st->next_rtd);
        st->next_rtd += RTD_MS;
    }
    while (st->next_min <= s->now) {
        int64_t t0 = st->next_min - MIN_MS;
        struct sim_hrec *r = &st->hmin[(t0 / MIN_MS) % SIM_HIST_MIN];
        period_rec(s, d, t0, MIN_MS, 10000, r);
        if (online(st))
            send_rec(s, d, 2051, r);
        st->next_min += MIN_MS;
    }
    while (st->next_hour <= s->now) {
        int64_t t0 = st->next_hour - HOUR_MS;
        struct sim_hrec *r = &st->hhour[(t0 / HOUR_MS) % SIM_HIST_HOUR];
        period_rec(s, d, t0, HOUR_MS, 300000, r);
        if (online(st))
            send_rec(s, d, 2061, r);
        st->next_hour += HOUR_MS;
    }
}

static void answer(struct sim *s, struct sim_dev *d, const struct hj212_msg *m, int which, int rtn)
{
    char out[1024];
    size_t len;
    int rc = which == 9011 ? hj212_encode_9011(out, sizeof out, &len, m, rtn)
                           : hj212_encode_9012(out, sizeof out, &len, m, rtn);
    if (rc == PW_OK)
        sim_conn_send(&d->st->c, out, len);
}

static void recall(struct sim *s, struct sim_dev *d, const struct hj212_msg *m)
{
    struct sim_station *st = d->st;
    int64_t b = hj212_datetime_to_ms(&m->begin_time, s->utc_off);
    int64_t e = hj212_datetime_to_ms(&m->end_time, s->utc_off);
    bool hour = m->cn == 2061;
    struct sim_hrec *ring = hour ? st->hhour : st->hmin;
    int cap = hour ? SIM_HIST_HOUR : SIM_HIST_MIN;
    int64_t step = hour ? HOUR_MS : MIN_MS;
    answer(s, d, m, 9011, 1);
    int sent = 0;
    for (int64_t t = b - (b % step + step) % step; t <= e; t += step) {
        if (t < b)
            continue;
        struct sim_hrec *r = &ring[(t / step) % cap];
        if (r->t != t)
            continue;
        if (send_rec(s, d, m->cn, r) == PW_OK)
            sent++;
    }
    s->hj_recalls++;
    s->hj_recalled += (uint64_t)sent;
    answer(s, d, m, 9012, sent ? 1 : 100);
    PW_LOG_INFO("sim", "hj212 recall answered", "device=%s cn=%d records=%d", d->id, m->cn, sent);
}

static void on_msg(struct sim *s, struct sim_dev *d, const struct hj212_msg *m)
{
    struct sim_station *st = d->st;
    if (m->cn == 9014) {
        if (st->pend_n == 0) {
            sim_error(s, "hj212 %s: unexpected 9014 qn=%s", d->id, m->qn ? m->qn : "");
            s->hj_bad++;
            return;
        }
        const char *want = st->pend[st->pend_head];
        st->pend_head = (st->pend_head + 1) % SIM_PEND;
        st->pend_n--;
        if (!m->qn || strcmp(m->qn, want) != 0 || m->st != 91 || strcmp(m->mn, st->mn) != 0 ||
            !m->has_flag || m->flag != 4 || strcmp(m->pw, st->pw) != 0) {
            sim_error(s, "hj212 %s: bad 9014 qn=%s want=%s st=%d flag=%d", d->id,
                      m->qn ? m->qn : "-", want, m->st, m->flag);
            s->hj_bad++;
            return;
        }
        s->hj_acks++;
        return;
    }
    if ((m->cn == 2051 || m->cn == 2061) && m->has_begin_time && m->has_end_time) {
        recall(s, d, m);
        return;
    }
    if (m->cn == 1012 || m->cn == 1011 || (m->cn >= 1061 && m->cn <= 1064)) {
        /* the simulator owns its clock: it acknowledges and keeps simulated time */
        if (m->cn == 1012)
            s->hj_time_sets++;
        answer(s, d, m, 9011, 1);
        answer(s, d, m, 9012, 1);
        return;
    }
    sim_error(s, "hj212 %s: unexpected request cn=%d", d->id, m->cn);
    answer(s, d, m, 9011, 2);
}

void sim_hj212_input(struct sim *s, struct sim_dev *d)
{
    struct sim_conn *c = &d->st->c;
    size_t off = 0;
    while (off < c->rlen) {
        size_t n = 0;
        enum hj212_err why;
        enum hj212_scan_kind k = hj212_scan(c->rbuf + off, c->rlen - off, &n, &why);
        if (k == HJ212_SCAN_NEED)
            break;
        if (k == HJ212_SCAN_FRAME) {
            struct hj212_error e;
            if (hj212_decode(c->rbuf + off, n, NULL, d->st->msg, &e) == HJ212_OK) {
                on_msg(s, d, d->st->msg);
            } else {
                sim_error(s, "hj212 %s: reply does not decode: %s", d->id, e.msg);
                s->hj_bad++;
            }
        } else {
            sim_error(s, "hj212 %s: garbage from the platform (%zu bytes)", d->id, n);
            s->hj_bad++;
        }
        off += n;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}
