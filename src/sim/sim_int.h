/* sim_int.h — the simulator's internals, shared by the files of src/sim/ only. One struct sim
 * owns everything; the main thread runs the schedule and the TCP clients (poll(2)), a second
 * thread serves the Modbus controllers, a third drives libmosquitto (poll(2)). The only
 * state the threads share are the Modbus register tables (each behind its controller's mutex)
 * and the MQTT acknowledgement counter (atomic). */
#ifndef PW_SIM_INT_H
#define PW_SIM_INT_H

#include "geo/geo.h"
#include "proto/hj212.h"
#include "proto/jt808.h"
#include "sim/sim.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SIM_ID_MAX 80
#define SIM_EFF_MAX 4
#define SIM_HIST_MIN 1440  /* minute records kept per station (24 h) */
#define SIM_HIST_HOUR 168  /* hour records kept per station (7 days) */
#define SIM_ST_VALS 16     /* factors per station */
#define SIM_PEND 256       /* replies awaited per connection */

enum sim_kind { SK_GAS, SK_TANK, SK_KILN, SK_STATION, SK_FIRE, SK_GATE, SK_VEHICLE };
enum sim_shape { SH_FLAT, SH_DIURNAL, SH_TRIANGLE, SH_GAS, SH_CURVE, SH_WINDDIR };

/* An incident's effect on one value: set to (or add) value × envelope. */
struct sim_effect {
    int64_t at, rise, hold, fall; /* sim ms; at is absolute */
    double value;
    bool set;
};

struct sim_val {
    char id[SIM_ID_MAX];   /* point id */
    char name[40];         /* MQTT value name (after "<device>.") / HJ 212 factor code */
    char *series;          /* the point's series as the model writes it (owned) */
    char quantity[33];
    uint64_t key;
    int shape;
    double nominal, amp, noise, vmin, vmax, peak_hour;
    int64_t period, phase;
    int reg;               /* Modbus input register address, -1 */
    int decimals;
    const double (*curve)[2]; /* SH_CURVE: (ms since sim start, value) */
    size_t ncurve;
    struct sim_effect eff[SIM_EFF_MAX];
    int neff;
    uint64_t sent;         /* samples sent (MQTT) */
};

struct sim_conn {
    int fd;                /* -1 when closed */
    bool up;               /* connected (connect completed) */
    int64_t retry_wall;    /* wall ms of the next connect attempt */
    char *rbuf, *wbuf;
    size_t rlen, rcap, wlen, wcap;
};

struct sim_hrec {          /* one minute or hour record in a station's history */
    int64_t t;             /* period start, sim ms; 0 = empty slot */
    bool sent;
    float min[SIM_ST_VALS], avg[SIM_ST_VALS], max[SIM_ST_VALS];
};

struct sim_station {
    struct sim_conn c;
    char mn[HJ212_MAX_MN + 1], pw[HJ212_MAX_PW + 1];
    int st;
    int64_t next_rtd, next_min, next_hour;
    int64_t outage_from, outage_to; /* sim ms; 0 = none */
    bool in_outage;
    int64_t last_qn;
    char pend[SIM_PEND][HJ212_MAX_QN + 1]; /* QNs awaiting 9014, FIFO */
    int pend_head, pend_n;
    struct sim_hrec *hmin, *hhour;
    uint64_t n_rtd, n_min, n_hour; /* frames sent (each counts one sample per value and series) */
    uint64_t cnt_rtd[SIM_ST_VALS], cnt_min[SIM_ST_VALS], cnt_hour[SIM_ST_VALS];
    struct hj212_msg *msg; /* decode buffer */
};

struct sim_vehicle {
    struct sim_conn c;
    char phone[JT808_PHONE_MAX + 1], norm[JT808_PHONE_MAX + 1];
    char plate[40], vid[SIM_ID_MAX], ent[16];
    int edition;
    int state;             /* 0 new, 1 registering, 2 authenticating, 3 online */
    uint8_t auth[64];
    size_t auth_len;
    uint16_t serial;
    struct { uint16_t serial, id; } pend[SIM_PEND];
    int pend_head, pend_n;
    /* motion */
    struct geo_xy pos;
    double speed, heading, mileage;
    struct geo_xy path[64];
    int npath, seg;
    int phase;
    int64_t phase_until, next_report, next_step, next_hb, trip_at;
    bool in_park, through, positioned;
    struct geo_xy bay;
    int gate_in, gate_out;
    /* incidents */
    int64_t spd_from, spd_to, stop_from, stop_to, blind_from, blind_to;
    double spd_kmh;
    struct jt808_location blind[128];
    int nblind;
    struct jt808_location last;
    bool has_last;
    uint64_t locations;    /* locations sent (each = 8 samples) */
};

struct sim_dev {
    char id[SIM_ID_MAX];
    int kind;
    char ent[16], area[SIM_ID_MAX], topic[260];
    struct geo_point loc;
    struct sim_val *v;
    int nv;
    int ctl;               /* Modbus controller index, -1 */
    int64_t next;          /* next periodic action (sim ms) */
    int64_t silent_from, silent_to;
    struct sim_station *st;
    struct sim_vehicle *veh;
};

struct sim_ctl {           /* one Modbus controller = one TCP server */
    char host[64];
    int port;
    int nregs;
    int lfd;               /* listening socket; -1 */
    uint16_t *regs;        /* nregs input registers (lock) */
    pthread_mutex_t lock;
    int clients[32];
    int nclients;
    struct sim_mbin {      /* per client: bytes of a request not complete yet */
        uint8_t b[260];
        size_t n;
    } in[32];
};

enum sim_inc_type { INC_RAMP, INC_OFFLINE, INC_OUTAGE, INC_FIRE, INC_SPEEDING, INC_STOP,
                    INC_BLIND };

struct sim_incident {
    char id[64];
    int type;
    int64_t at, duration;  /* absolute sim ms */
    char target[SIM_ID_MAX];
    cJSON *event;          /* INC_FIRE: the event object (borrowed from the scenario) */
    double speed;
    bool played;
};

struct sim_gate {
    char id[SIM_ID_MAX], topic[260];
    struct geo_xy at;      /* gate position (projected) */
    struct geo_xy out;     /* approach point outside the park */
    int node;              /* route-graph node */
};

struct sim_graph {
    struct geo_xy node[256];
    int nn;
    int adj[256][8];
    int nadj[256];
};

struct sim_rings {         /* polygons (projected) the vehicles slow down in */
    struct geo_xy *pts;
    size_t n;
};

struct sim {
    struct sim_opts o;
    struct sim_clock clk;
    int64_t now;           /* sim ms of this tick */
    int64_t wall;
    cJSON *park, *scen;
    struct geo_proj proj;
    int utc_off;
    struct sim_dev *dev;
    int ndev;
    struct sim_ctl *ctl;
    int nctl;
    struct sim_incident *inc;
    int ninc;
    struct sim_gate gate[16];
    int ngate;
    struct sim_graph g;
    struct sim_rings slow[32];
    int nslow;
    struct geo_xy lot, lot_entry;
    int lot_node;
    double curve_pts[64][2];
    size_t ncurve;
    char curve_dev[SIM_ID_MAX];
    cJSON *curve_json;
    /* connections */
    char hj_host[64], jt_host[64], mq_host[64];
    int hj_port, jt_port, mq_port;
    void *mosq;
    bool mq_up;
    pthread_t mq_thread;   /* our poll(2) loop around libmosquitto's socket */
    atomic_int mq_stop;
    atomic_ullong mq_acked;
    uint64_t mq_sent, mq_samples, mq_events, mq_fail;
    /* Modbus thread */
    pthread_t mb_thread;
    bool mb_running;
    atomic_int mb_stop;
    uint64_t mb_requests;
    /* counters */
    uint64_t hj_frames, hj_acks, hj_bad, hj_time_sets, hj_recalls, hj_recalled, hj_outages;
    uint64_t jt_frames, jt_acks, jt_bad, jt_regs, jt_auths, jt_locs, jt_batches, jt_queries;
    uint64_t gate_events, fire_events;
    int overrides;
    char errs[20][200];
    int nerrs;
    uint64_t nerr_total;
    struct sim_permits *permits; /* sim_permits.c; NULL until its first tick */
};

/* sim_park.c */
int sim_park_load(const char *path, int devices, cJSON **root);
int sim_park_build(struct sim *s);
void sim_park_free(struct sim *s);
/* sim_scenario.c */
int sim_scenario_load(struct sim *s, const char *path);
void sim_scenario_tick(struct sim *s);
double sim_value(const struct sim *s, const struct sim_dev *d, const struct sim_val *v,
                 int64_t t);
/* sim_net.c */
void sim_conn_init(struct sim_conn *c);
void sim_conn_close(struct sim_conn *c, int64_t retry_wall);
int sim_conn_start(struct sim_conn *c, const char *host, int port);
int sim_conn_send(struct sim_conn *c, const void *p, size_t n);
int sim_conn_io(struct sim_conn *c, short revents); /* PW_OK, or an error: closed */
int sim_parse_hostport(const char *s, char *host, size_t cap, int *port);
int sim_http(const struct sim *s, const char *method, const char *path, const char *body,
             const char *token, int *status, char *resp, size_t cap);
void sim_error(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* sim_hj212.c */
void sim_hj212_tick(struct sim *s, struct sim_dev *d);
void sim_hj212_input(struct sim *s, struct sim_dev *d);
/* sim_jt808.c */
void sim_jt808_setup(struct sim *s);
void sim_jt808_tick(struct sim *s, struct sim_dev *d);
void sim_jt808_input(struct sim *s, struct sim_dev *d);
/* sim_modbus.c */
int sim_modbus_start(struct sim *s);
void sim_modbus_stop(struct sim *s);
void sim_modbus_update(struct sim *s);
/* sim_permits.c: the scenario's permit jobs played over the API (sim time) */
void sim_permits_tick(struct sim *s);
void sim_permits_free(struct sim *s);
/* sim_mqtt.c */
int sim_mqtt_start(struct sim *s);
void sim_mqtt_stop(struct sim *s);
void sim_mqtt_tick(struct sim *s, struct sim_dev *d);
int sim_mqtt_event(struct sim *s, const struct sim_dev *d, cJSON *ev);
struct sim_dev *sim_dev_find(struct sim *s, const char *id);

#endif
