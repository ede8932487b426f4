/* dispersion.h — atmospheric dispersion of a toxic release for emergency response (敏捷应急):
 * Gaussian plume with ground reflection and the finite-duration factor, Briggs open-country and
 * urban dispersion, the Monin–Obukhov wind profile, instantaneous puffs and a puff train for a
 * changing wind, stability classes (Pasquill table, GB/T 3840 solar elevation, σθ), unit
 * conversion, a dense-gas screen, threat zones (footprint polygon, distance, area), a centreline
 * profile and the estimation of a source from a detector network. docs/emergency.md gives every
 * formula, its source and its limits, and how the results compare with NOAA/EPA ALOHA.
 *
 * Frame. A local plane in metres (x east, y north: geo/'s struct geo_xy); callers project with
 * geo_project around a point near the release. Winds are given as the direction they blow FROM
 * (0° = north, clockwise, as HJ 212 a01008); the cloud travels towards from + 180°. Downwind
 * distance is measured along the travel direction, crosswind across it, z up from the ground.
 * Concentrations are kg/m³ inside; the zone levels are ppm (converted with the measured
 * temperature and pressure).
 *
 * ALOHA's choices (so that a passive gas gets ALOHA's answer for the same input): the transport
 * wind is the wind at 3 m, or at the release height when higher, from the log profile; σy comes
 * from the open-country column for every terrain, σz from the urban column when z0 ≥ 0.2 m;
 * releases shorter than an hour get the Palazzi factor; results are flagged beyond 10 km, for
 * releases over an hour, for wind below 1 m/s at 10 m and closer than 100 m.
 *
 * Every function is pure: no globals, no I/O, no locks. Results are written through out-pointers;
 * functions that allocate say so and their results are released with the matching _release.
 * They may be called from any thread (the pipeline's writer thread or a worker). Errors are
 * base/err.h values; functions taking `char *err, size_t errcap` write one line there on failure
 * naming the input field as the HTTP API spells it (`release.rate_kg_s: ...`). Every size is
 * bounded by the DISP_*_MAX constants below. */
#ifndef PW_DISPERSION_H
#define PW_DISPERSION_H

#include "geo/geo.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- bounds ---- */
#define DISP_LEVELS_MAX 8      /* levels of concern per calculation */
#define DISP_RING_MAX 2048     /* vertices of one zone polygon */
#define DISP_CENTRE_MAX 64     /* centreline points */
#define DISP_GRID_MAX 250000   /* cells of a puff-train grid */
#define DISP_PUFFS_MAX 2000    /* puffs alive in a puff train */
#define DISP_WINDS_MAX 1440    /* minutes of wind in a puff train (24 h) */
#define DISP_RANGE_M 10000.0   /* zones are not drawn beyond 10 km */
#define DISP_NEAR_M 100.0      /* results closer are unreliable */
#define DISP_DETECTORS_MAX 512 /* detectors in a source estimate */
#define DISP_RELEASE_POINTS_MAX 4096
#define DISP_CANDIDATES_MAX 40000 /* candidate source positions evaluated */
#define DISP_AREA_MAX 64          /* vertices of an estimated source area */
#define DISP_NAME_MAX 32          /* a level's name, bytes with the NUL */

/* Input ranges (checked by disp_scenario_check). */
#define DISP_RATE_MAX_KG_S 1.0e4
/* The largest rate a source estimate may give: a full-bore rupture of a large liquefied-gas
 * line or a tank car is of the order of 100–1000 kg/s; a larger "estimate" is a reading
 * explained by a detector in the model's far tail, not a leak (docs/emergency.md). */
#define DISP_EST_RATE_MAX_KG_S 1.0e3
/* The likelihood cut of the rate range: (s, θ) with J − J_min above it are not in it
 * (χ² 95 % for 3 parameters: x, y, θ). */
#define DISP_EST_J_CUT 7.81
#define DISP_DURATION_MAX_S 86400.0
#define DISP_HEIGHT_MAX_M 300.0
#define DISP_WIND_MAX_MS 50.0
#define DISP_Z0_MIN_M 0.0001
#define DISP_Z0_MAX_M 3.0

#define DISP_R 8.314462618      /* J/(mol·K) */
#define DISP_M_AIR 28.9647      /* g/mol */
#define DISP_G 9.80665          /* m/s² */
#define DISP_Z0_OPEN 0.03       /* open country */
#define DISP_Z0_URBAN 1.0       /* urban / industrial (a chemical park with tall units) */
#define DISP_Z0_URBAN_SIGMA 0.2 /* from this roughness on, σz comes from the urban column */

/* ---- validity flags: every result carries them ---- */
enum disp_flag {
    DISP_F_LOW_WIND = 1u << 0,          /* wind below 1 m/s at 10 m: Gaussian model unreliable */
    DISP_F_NEAR_FIELD = 1u << 1,        /* a result closer than 100 m to the source */
    DISP_F_BEYOND_10KM = 1u << 2,       /* the zone reaches 10 km and is cut there */
    DISP_F_OVER_1H = 1u << 3,           /* release longer than an hour (treated as steady) */
    DISP_F_STABLE_NIGHT = 1u << 4,      /* class E or F: long, narrow, sensitive plumes */
    DISP_F_DENSE_GAS = 1u << 5,         /* heavier-than-air screen met: Gaussian under-predicts */
    DISP_F_STABILITY_ASSUMED = 1u << 6, /* no cloud and no σθ: conservative class assumed */
    DISP_F_DECIMATED = 1u << 7,         /* a polygon had more than DISP_RING_MAX vertices */
    DISP_F_GRID_CLIPPED = 1u << 8,      /* the puff train's grid did not hold the whole zone */
};
#define DISP_F_COUNT 9
/* The flag's name for JSON ("low_wind", "near_field", "beyond_10km", "over_1h", "stable_night",
 * "dense_gas", "stability_assumed", "decimated", "grid_clipped"); NULL for a non-flag. */
const char *disp_flag_name(unsigned flag);

/* ---- stability ---- */
enum disp_class { DISP_A = 0, DISP_B, DISP_C, DISP_D, DISP_E, DISP_F, DISP_CLASS_COUNT };
/* 'A'..'F' (either case) → class. PW_OK or PW_EINVAL (*out untouched). */
int disp_class_parse(const char *s, enum disp_class *out);
/* "A".."F"; "?" for an invalid value. */
const char *disp_class_name(enum disp_class c);

/* Pasquill table (NOAA READY) with wind u10 (m/s at 10 m). Where the table gives two classes the
 * more stable one is taken, as ALOHA does. */
enum disp_sky {
    DISP_SKY_DAY_STRONG, /* day, strong insolation */
    DISP_SKY_DAY_MODERATE,
    DISP_SKY_DAY_SLIGHT,
    DISP_SKY_NIGHT_CLOUDY, /* night, > 4/8 low cloud */
    DISP_SKY_NIGHT_CLEAR,  /* night, ≤ 4/8 cloud */
    DISP_SKY_OVERCAST,     /* overcast day or night, and the hour around sunrise and sunset: D */
};
enum disp_class disp_stability_pasquill(double u10, enum disp_sky sky);

/* Solar elevation in degrees (GB/T 3840-91, appendix B) at Unix time t_s (UTC seconds) and
 * position lon/lat in degrees. */
double disp_solar_elevation_deg(int64_t t_s, double lon, double lat);
/* GB/T 3840-91 class from wind u10 (m/s at 10 m), solar elevation h0 (degrees, ≤ 0 = night) and
 * total and low cloud cover in tenths (0..10, low ≤ total; out of range values are clamped).
 * The more stable of two classes is taken. */
enum disp_class disp_stability_gbt3840(double u10, double h0_deg, int total_tenths, int low_tenths);
/* Yamartino's standard deviation of n wind directions (degrees): σθ = asin ε (1 + 0.1547 ε³),
 * ε = √(1 − (mean sin)² − (mean cos)²). 0 for n < 2. */
double disp_sigma_theta_yamartino(const double *from_deg, size_t n);
/* Class from σθ over 10–15 min (A ≥ 22.5°, B ≥ 17.5°, C ≥ 12.5°, D ≥ 7.5°, E ≥ 3.75°, else F:
 * the midpoints between A 25°, B 20°, C 15°, D 10°, E 5°, F 2.5°). */
enum disp_class disp_stability_sigma_theta(double sigma_theta_deg);
/* The conservative class when neither cloud nor σθ is known: F at night (h0 ≤ 0), D by day.
 * The caller sets DISP_F_STABILITY_ASSUMED. */
enum disp_class disp_stability_default(double h0_deg);

/* ---- dispersion coefficients and the wind profile (x in metres) ---- */
/* Briggs (1973) σy and σz, open country (urban = false) or urban. Defined for 100 m ≤ x ≤ 10 km;
 * evaluated as written outside that range (callers flag it). x ≤ 0 gives 0. */
double disp_sigma_y(enum disp_class c, bool urban, double x);
double disp_sigma_z(enum disp_class c, bool urban, double x);
/* Beals (1971) along-wind σx for the duration factor: A–C 0.02x^1.22, D 0.04x^1.14, E–F
 * 0.17x^0.97. */
double disp_sigma_x_beals(enum disp_class c, double x);
/* Instantaneous-puff coefficients (CCPS 1999): σx = σy and σz at travel distance x. */
void disp_puff_sigma(enum disp_class c, double x, double *sigma_y, double *sigma_z);
/* Obukhov length (m) from z0 (Pasquill 1974): A −11.4 z0^0.10 … F 26.0 z0^0.17; INFINITY for D. */
double disp_obukhov_length(enum disp_class c, double z0);
/* The Monin–Obukhov profile: the wind at height z given u_ref at z_ref (heights in m, > 0). */
double disp_wind_at(double u_ref, double z_ref, double z, double z0, enum disp_class c);
/* ALOHA's transport wind: the wind at max(3 m, release height). */
double disp_transport_wind(double u_ref, double z_ref, double height, double z0, enum disp_class c);
/* Palazzi (1982) finite-duration factor erf(U t_r / (2√2 σx)) at distance x; 1 for t_r ≤ 0
 * (meaning continuous). */
double disp_palazzi(enum disp_class c, double u, double t_r, double x);

/* ---- concentrations (kg/m³) ---- */
/* The Gaussian plume with ground reflection: Q kg/s, transport wind u, σy σz at the receptor's
 * downwind distance, release height h, receptor crosswind offset y and height z. */
double disp_plume_formula(double q, double u, double sigma_y, double sigma_z, double h, double y,
                          double z);
/* An instantaneous ground puff of mass m (kg), class c, wind u, at time t after the release, at
 * downwind x and crosswind y (ground receptor, ground release): CCPS's formula with σx = σy. */
double disp_puff_conc(double m, enum disp_class c, double u, double t, double x, double y);

/* ---- units ---- */
/* ppm (by volume) ↔ kg/m³ at temperature t_k (K) and pressure p_pa (Pa) for molar mass m
 * (g/mol): ppm = C · 1e9 · R T / (M P). */
double disp_kgm3_to_ppm(double c, double m, double t_k, double p_pa);
double disp_ppm_to_kgm3(double ppm, double m, double t_k, double p_pa);
/* mg/m³ = ppm · M P / (1e3 R T)·1e3 (at 25 °C and 101.325 kPa: ppm · M / 24.45). */
double disp_ppm_to_mgm3(double ppm, double m, double t_k, double p_pa);
double disp_mgm3_to_ppm(double mgm3, double m, double t_k, double p_pa);

/* ---- the dense-gas screen ----
 * Britter–McQuaid for a continuous release of pure vapour at ambient temperature: relative
 * density rel (vs air, as the chemical table gives it), rate q kg/s, wind u at 10 m, air density
 * from t_k and p_pa. g0' = g (ρ0 − ρa)/ρa, q0 = q/ρ0 m³/s, D = √(q0/u); the criterion
 * (g0' q0 / (u³ D))^⅓ is written to *criterion (0 when not denser than air, may be NULL) and the
 * screen is met when it is ≥ 0.15. */
bool disp_dense_gas(double rel, double q, double u, double t_k, double p_pa, double *criterion);

/* ---- a calculation: the release, the weather, the levels of concern ---- */
struct disp_level {
    char name[DISP_NAME_MAX]; /* "AEGL-3", … */
    double ppm;               /* > 0 */
};

struct disp_wind {
    double speed_ms; /* at the scenario's wind_height_m */
    double from_deg; /* the direction it blows from */
};

struct disp_scenario {
    struct geo_xy src;     /* the release on the local plane */
    double rate_kg_s;      /* release.rate_kg_s: (0, 1e4] */
    double duration_s;     /* release.duration_s: (0, 86400] */
    double height_m;       /* release.height_m: [0, 300] */
    double molar_mass;     /* chemical molecular weight, g/mol: [1, 1000] */
    double rel_density;    /* vs air; 0 = M / 28.96 (pure vapour at ambient temperature) */
    struct disp_wind wind; /* wind.speed_ms (0, 50], wind.from_deg [0, 360] */
    double wind_height_m;  /* wind.height_m: [1, 200], normally 10 */
    enum disp_class cls;   /* stability */
    double z0_m;           /* roughness_m: [1e-4, 3] */
    double temp_k;         /* temperature_c + 273.15: [-60 °C, 60 °C] */
    double pressure_pa;    /* pressure_kpa · 1000: [50, 110] kPa */
    size_t n_levels;       /* levels: 1..DISP_LEVELS_MAX, ppm > 0 */
    struct disp_level levels[DISP_LEVELS_MAX];
    unsigned flags; /* flags the caller adds to every result (DISP_F_STABILITY_ASSUMED) */
};

/* Checks every field against the ranges above. PW_OK, or PW_EINVAL with err naming the field. */
int disp_scenario_check(const struct disp_scenario *sc, char *err, size_t errcap);

/* The plume the scenario gives, with ALOHA's choices made once. */
struct disp_plume {
    enum disp_class cls;
    double q;          /* kg/s */
    double u;          /* transport wind, m/s */
    double u10;        /* wind at 10 m */
    double h;          /* release height */
    double duration_s; /* ≥ 3600: steady (no duration factor) */
    bool urban_z;      /* σz from the urban column (z0 ≥ 0.2 m) */
    unsigned flags;    /* what applies to the whole calculation (low wind, over 1 h, ...) */
};
/* Fills *p from a checked scenario. */
void disp_plume_init(struct disp_plume *p, const struct disp_scenario *sc);
/* Peak concentration (kg/m³) at downwind x, crosswind y, height z: the plume formula times the
 * Palazzi factor for releases under an hour. 0 for x ≤ 0. */
double disp_plume_conc(const struct disp_plume *p, double x, double y, double z);

/* One threat zone. ring: the footprint on the local plane (counter-clockwise, not closed), NULL
 * when the level is not reached. */
struct disp_zone {
    char name[DISP_NAME_MAX];
    double ppm;
    bool reached;
    double max_distance_m; /* farthest point of the zone from the source, ≤ 10 km */
    double area_m2;
    struct geo_xy *ring; /* malloc'ed, n vertices, ≤ DISP_RING_MAX */
    size_t n;
    unsigned flags; /* the result's flags that apply to this zone */
};

struct disp_profile_point {
    double distance_m;
    double ppm;
};

struct disp_result {
    size_t n_zones; /* == the scenario's n_levels, in its order */
    struct disp_zone zones[DISP_LEVELS_MAX];
    size_t n_centre;
    struct disp_profile_point centre[DISP_CENTRE_MAX]; /* ground ppm, 100 m … 10 km */
    double u_transport;                                /* m/s */
    double dense_criterion;
    unsigned flags; /* union of everything that applies */
};

/* Steady plume threat zones (ALOHA's Gaussian answer): for each level the footprint where the
 * peak ground concentration reaches it, the edge y(x) = σy √(2 ln(C0(x)/LOC)) with C0 the
 * ground centreline value, drawn along the wind from sc->src. Returns PW_OK with *out filled
 * (release with disp_result_release), PW_EINVAL (err names the field) or PW_ENOMEM; *out is
 * empty (safe to release) on error. */
int disp_steady_zones(const struct disp_scenario *sc, struct disp_result *out, char *err,
                      size_t errcap);

/* Puff train for a changing wind: a continuous release of sc->rate_kg_s for sc->duration_s
 * under winds[i] during minute i (minute 0 starts at the release; past the last entry the last
 * wind holds; n_winds == 0 uses sc->wind). Every step_s seconds (1..60; 0 = 20) a puff of mass
 * Q·step is emitted; each puff's centre moves with the wind of the current minute and its σ
 * grow with the path it has travelled (σy, σz as for the plume, so a steady wind gives the
 * plume; the along-wind σ is Beals' σx but at least the puff spacing, so the train sums to the
 * plume and the duration factor comes out by itself). The zone of each level is the contour of
 * the maximum over time of the ground concentration on a grid of at most DISP_GRID_MAX cells
 * (marching squares), its largest ring; area and distance from that ring. The cloud is followed
 * until it has passed 10 km or horizon_s (0 = the release duration plus two hours, at most
 * 24 h). Returns as disp_steady_zones; PW_EINVAL also names `wind[i]` or `step_s`;
 * PW_ETOOBIG when the train would need more than 6·10⁸ grid updates (about 1–2 s of one core:
 * a day-long release in light, turning wind), with err naming release.duration_s. */
int disp_train_zones(const struct disp_scenario *sc, const struct disp_wind *winds, size_t n_winds,
                     double step_s, double horizon_s, struct disp_result *out, char *err,
                     size_t errcap);

/* A receptor of the puff train: a point where the concentration is followed over time (who is
 * inside, when it arrives, how long it stays). Input xy and since_s; the rest is output. Times
 * are seconds after the release start, resolved to the train's step. */
struct disp_receptor {
    struct geo_xy xy; /* on the local plane */
    double since_s;   /* above_s counts only time from here on (e.g. now, in an incident) */
    double first_s[DISP_LEVELS_MAX]; /* first time at or above level i; -1 = never */
    double above_s[DISP_LEVELS_MAX]; /* time at or above level i after since_s */
    double peak_ppm;                 /* highest ground concentration seen */
};
#define DISP_RECEPTORS_MAX 20000
/* disp_train_zones, and the ground concentration followed at n_rec receptors (at most
 * DISP_RECEPTORS_MAX; rec may be NULL when n_rec is 0) after every step. Receptors outside the
 * train's grid (where no level is reached) get first_s -1 and zeros without costing anything. */
int disp_train_zones_at(const struct disp_scenario *sc, const struct disp_wind *winds,
                        size_t n_winds, double step_s, double horizon_s,
                        struct disp_receptor *rec, size_t n_rec, struct disp_result *out,
                        char *err, size_t errcap);

/* Frees what a result holds and empties it. Accepts a zeroed or already released result. */
void disp_result_release(struct disp_result *r);

/* ---- geometry helpers for impacts ---- */
/* Whether the polygon b (nb vertices, ring) intersects the zone ring a: a vertex of one inside
 * the other, or two edges crossing. nb == 1 tests a point. */
bool disp_ring_intersects(const struct geo_xy *a, size_t na, const struct geo_xy *b, size_t nb);

/* ---- the chemical table (built in; docs/emergency.md lists it) ---- */
struct disp_value {     /* one tabulated value with where it comes from */
    double v;           /* NAN when the source gives none ("not recommended") */
    const char *source; /* "US EPA AEGL (final)", "NIOSH IDLH", ... */
    const char *date;   /* YYYY-MM-DD the value was taken into this table */
};
enum { DISP_AEGL_10, DISP_AEGL_30, DISP_AEGL_60, DISP_AEGL_240, DISP_AEGL_480, DISP_AEGL_N };
struct disp_chemical {
    const char *name; /* English, as matched by disp_chemical_find */
    const char *name_zh;
    const char *formula;
    const char *cas;
    double molar_mass;                      /* g/mol */
    double rel_density;                     /* vapour density vs air */
    struct disp_value aegl[3][DISP_AEGL_N]; /* [AEGL-1..3][duration] ppm */
    struct disp_value erpg[3];              /* ppm */
    struct disp_value pac[3];               /* ppm */
    struct disp_value idlh;                 /* ppm, a worker escape limit: never zones the public */
    struct disp_value hj169[2];             /* HJ 169-2018 toxic end points -1/-2, mg/m³ */
};
/* The built-in entries, n in *n. */
const struct disp_chemical *disp_chemicals(size_t *n);
/* By English name, Chinese name, formula or CAS, case-insensitive; NULL when unknown. */
const struct disp_chemical *disp_chemical_find(const char *name);
/* The default levels (AEGL-3, -2, -1 at 60 min, those that exist) into levels[0..3); returns
 * how many. */
size_t disp_chemical_default_levels(const struct disp_chemical *c, struct disp_level *levels);

/* ---- estimating the source from the detectors ----
 * Concentration is linear in Q, so for each candidate position s and wind direction θ the best
 * Q has a closed form in log space: ln Q̂ = mean over the reading detectors of ln c_i − ln m_i(s),
 * m_i the model at detector i for Q = 1 (steady plume). Silent detectors bound Q from above
 * (Q m_k ≤ alarm_k), saturated ones from below (Q m_k ≥ full scale): Q̂ is clamped to those
 * bounds (an empty interval is penalised). The misfit J = Σ (ln c_i − ln Q̂ m_i)² / σ² plus the
 * wind prior ((θ − θ0)/σθ)² weighs each (s, θ) by exp(−J/2); σ² is sigma_log², or the best fit's
 * scatter per degree of freedom when that is larger (model error). Candidates: the release
 * points given plus a grid (grid_m) over the upwind cone of every reading detector. The source is
 * reported as the best position, the area holding 90 % of the weight (convex hull) and Q as the
 * weighted 5–95 % range widened by each Q̂'s own error (±1.645 σ/√n), taken over the candidates
 * of that area only and the (s, θ) within DISP_EST_J_CUT of the best. A reading or saturated
 * detector is explained by (s, θ) only within 3 σy of the plume axis and 3 σz of the release
 * height, and no Q above DISP_EST_RATE_MAX_KG_S explains anything (an upper bound as a silent
 * detector's); the range is cut there (rate_capped) and poorly_constrained says when the
 * readings do not pin the source down. */
enum disp_det_state {
    DISP_DET_READING = 0, /* a reading above the detector's noise: a value */
    DISP_DET_SILENT,      /* below its alarm level: an upper bound */
    DISP_DET_SATURATED,   /* at full scale: a lower bound */
};
struct disp_detector {
    struct geo_xy xy;
    double height_m;
    enum disp_det_state state;
    double ppm; /* READING: the reading; SILENT: its alarm level (the bound);
                   SATURATED: full scale */
};
struct disp_release_point {
    struct geo_xy xy;
    double height_m;
};
struct disp_est_input {
    const struct disp_detector *det;
    size_t n_det; /* 1..DISP_DETECTORS_MAX, at least one READING */
    const struct disp_release_point *rp;
    size_t n_rp;           /* 0..DISP_RELEASE_POINTS_MAX */
    struct disp_wind wind; /* measured */
    double wind_height_m;
    enum disp_class cls;
    double z0_m;
    double molar_mass, temp_k, pressure_pa;
    double grid_m;         /* candidate grid spacing, 0 = 10 m; widened to stay bounded */
    double cone_len_m;     /* how far upwind, 0 = 500 m */
    double cone_half_deg;  /* 0 = 30° */
    double wind_sigma_deg; /* wind direction error, 0 = 10° */
    int n_dirs;            /* wind directions tried, odd, 0 = 13 (θ0 ± 1.5 σθ) */
    double sigma_log;      /* reading error in log space, 0 = 0.35 */
};
struct disp_estimate {
    struct geo_xy best;
    double best_height_m;
    double best_from_deg;              /* the wind direction of the best (s, θ) */
    double q_kg_s;                     /* at the best candidate */
    double q_lo, q_hi;                 /* weighted 5 % and 95 % */
    struct geo_xy area[DISP_AREA_MAX]; /* convex hull of the 90 % set, counter-clockwise */
    size_t n_area;
    double area_radius_m; /* farthest point of that set from best */
    size_t n_candidates;
    bool from_release_point; /* best is one of the release points given */
    double misfit;           /* J at the best */
    size_t n_reading;        /* reading detectors the estimate rests on */
    bool rate_capped;        /* the range reached DISP_EST_RATE_MAX_KG_S and was cut there */
    bool poorly_constrained; /* fewer than 2 readings, the range wider than ×10, the area
                                wider than 100 m, or capped: the estimate is a guess */
};
/* Returns PW_OK and *out, or PW_EINVAL (err names `detectors[i]...`), PW_ENOTFOUND (no candidate
 * explains the readings, err says so) / PW_ENOMEM. */
int disp_estimate_source(const struct disp_est_input *in, struct disp_estimate *out, char *err,
                         size_t errcap);

#endif
