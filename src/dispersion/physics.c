/* physics.c — the formulas: Briggs, Beals and CCPS dispersion coefficients, the Monin–Obukhov
 * wind profile with Pasquill's Obukhov lengths, the Palazzi factor, the plume and puff formulas,
 * unit conversion, the dense-gas screen and the stability classes. docs/emergency.md gives each
 * formula's source; dispersion.h the contracts. */
#include "dispersion/dispersion.h"

#include "base/err.h"
#include "base/timeutil.h"

#include <math.h>
#include <string.h>

#define DEG (M_PI / 180.0)

static const char *const flag_names[DISP_F_COUNT] = {
    "low_wind",  "near_field",        "beyond_10km", "over_1h",      "stable_night",
    "dense_gas", "stability_assumed", "decimated",   "grid_clipped",
};

const char *disp_flag_name(unsigned flag)
{
    for (unsigned i = 0; i < DISP_F_COUNT; i++)
        if (flag == 1u << i)
            return flag_names[i];
    return NULL;
}

int disp_class_parse(const char *s, enum disp_class *out)
{
    if (!s || !s[0] || s[1])
        return PW_EINVAL;
    char c = s[0];
    if (c >= 'a' && c <= 'f')
        c = (char)(c - 'a' + 'A');
    if (c < 'A' || c > 'F')
        return PW_EINVAL;
    *out = (enum disp_class)(c - 'A');
    return PW_OK;
}

const char *disp_class_name(enum disp_class c)
{
    static const char *const n[DISP_CLASS_COUNT] = {"A", "B", "C", "D", "E", "F"};
    return (unsigned)c < DISP_CLASS_COUNT ? n[c] : "?";
}

/* ---- stability ---- */

/* Wind-speed column of the Pasquill and GB/T 3840 tables: < 2 | 2–3 | 3–5 | 5–6 | ≥ 6 m/s. */
static int wind_col(double u10)
{
    if (u10 < 2)
        return 0;
    if (u10 < 3)
        return 1;
    if (u10 < 5)
        return 2;
    if (u10 < 6)
        return 3;
    return 4;
}

enum disp_class disp_stability_pasquill(double u10, enum disp_sky sky)
{
    /* two classes (A–B) are written as the more stable one (B), as ALOHA takes them */
    static const enum disp_class t[5][5] = {
        {DISP_A, DISP_B, DISP_B, DISP_C, DISP_C}, /* strong: A, A–B, B, C, C */
        {DISP_B, DISP_B, DISP_C, DISP_D, DISP_D}, /* moderate: A–B, B, B–C, C–D, D */
        {DISP_B, DISP_C, DISP_C, DISP_D, DISP_D}, /* slight: B, C, C, D, D */
        {DISP_E, DISP_E, DISP_D, DISP_D, DISP_D}, /* night > 4/8 low cloud */
        {DISP_F, DISP_F, DISP_E, DISP_D, DISP_D}, /* night ≤ 4/8 */
    };
    if ((unsigned)sky >= 5)
        return DISP_D;
    return t[sky][wind_col(u10)];
}

double disp_solar_elevation_deg(int64_t t_s, double lon, double lat)
{
    /* GB/T 3840-91 appendix B: declination from the day number dn (0 = 1 January), hour angle
     * 15 t + λ − 300 with t in Beijing time (UTC+8) hours. */
    int64_t days = t_s >= 0 ? t_s / 86400 : -((-t_s + 86399) / 86400);
    double sec = (double)(t_s - days * 86400);
    /* civil date from days since 1970-01-01 (Howard Hinnant's algorithm) for the day of year */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400, doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy_mar + 2) / 153;
    if (mp >= 10) /* January and February belong to the next civil year */
        y++;
    int64_t d0 = pw_days_from_civil((int)y, 1, 1);
    double dn = (double)(days - d0);
    double th = 2 * M_PI * dn / 365.0;
    double dec = 0.006918 - 0.399912 * cos(th) + 0.070257 * sin(th) - 0.006758 * cos(2 * th) +
                 0.000907 * sin(2 * th) - 0.002697 * cos(3 * th) + 0.001480 * sin(3 * th);
    double t_bj = sec / 3600.0 + 8.0;
    double ha = (15.0 * t_bj + lon - 300.0) * DEG;
    double s = sin(lat * DEG) * sin(dec) + cos(lat * DEG) * cos(dec) * cos(ha);
    if (s > 1)
        s = 1;
    if (s < -1)
        s = -1;
    return asin(s) / DEG;
}

enum disp_class disp_stability_gbt3840(double u10, double h0, int total, int low)
{
    if (total < 0)
        total = 0;
    if (total > 10)
        total = 10;
    if (low < 0)
        low = 0;
    if (low > total)
        low = total;
    /* net radiation index (太阳辐射等级数): rows by cloud (total/low, tenths), columns night,
     * h0 ≤ 15°, 15–35°, 35–65°, > 65° */
    static const int rad[5][5] = {
        {-2, -1, 1, 2, 3}, /* ≤ 4 / ≤ 4 */
        {-1, 0, 1, 2, 3},  /* 5–7 / ≤ 4 */
        {-1, 0, 0, 1, 1},  /* ≥ 8 / ≤ 4 */
        {0, 0, 0, 0, 1},   /* ≥ 5 / 5–7 */
        {0, 0, 0, 0, 0},   /* ≥ 8 / ≥ 8 */
    };
    int row;
    if (low >= 8)
        row = 4;
    else if (low >= 5)
        row = 3;
    else if (total >= 8)
        row = 2;
    else if (total >= 5)
        row = 1;
    else
        row = 0;
    int col = h0 <= 0 ? 0 : h0 <= 15 ? 1 : h0 <= 35 ? 2 : h0 <= 65 ? 3 : 4;
    int r = rad[row][col];
    /* class by radiation index (+3 … −2) and wind; two classes → the more stable */
    static const enum disp_class t[5][6] = {
        /*  +3      +2      +1      0       −1      −2 */
        {DISP_A, DISP_B, DISP_B, DISP_D, DISP_E, DISP_F}, /* ≤ 1.9: A, A–B, B, D, E, F */
        {DISP_B, DISP_B, DISP_C, DISP_D, DISP_E, DISP_F}, /* 2–2.9: A–B, B, C, D, E, F */
        {DISP_B, DISP_C, DISP_C, DISP_D, DISP_D, DISP_E}, /* 3–4.9: B, B–C, C, D, D, E */
        {DISP_C, DISP_D, DISP_D, DISP_D, DISP_D, DISP_D}, /* 5–5.9: C, C–D, D, D, D, D */
        {DISP_C, DISP_D, DISP_D, DISP_D, DISP_D, DISP_D}, /* ≥ 6 */
    };
    return t[wind_col(u10)][3 - r];
}

double disp_sigma_theta_yamartino(const double *from_deg, size_t n)
{
    if (n < 2)
        return 0;
    double s = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        s += sin(from_deg[i] * DEG);
        c += cos(from_deg[i] * DEG);
    }
    s /= (double)n;
    c /= (double)n;
    double e2 = 1 - (s * s + c * c);
    double e = e2 > 0 ? sqrt(e2) : 0;
    if (e > 1)
        e = 1;
    return asin(e) * (1 + 0.1547 * e * e * e) / DEG;
}

enum disp_class disp_stability_sigma_theta(double st)
{
    if (st >= 22.5)
        return DISP_A;
    if (st >= 17.5)
        return DISP_B;
    if (st >= 12.5)
        return DISP_C;
    if (st >= 7.5)
        return DISP_D;
    if (st >= 3.75)
        return DISP_E;
    return DISP_F;
}

enum disp_class disp_stability_default(double h0)
{
    return h0 <= 0 ? DISP_F : DISP_D;
}

/* ---- coefficients ---- */

double disp_sigma_y(enum disp_class c, bool urban, double x)
{
    if (x <= 0 || (unsigned)c >= DISP_CLASS_COUNT)
        return 0;
    static const double open[6] = {0.22, 0.16, 0.11, 0.08, 0.06, 0.04};
    static const double urb[6] = {0.32, 0.32, 0.22, 0.16, 0.11, 0.11};
    if (urban)
        return urb[c] * x / sqrt(1 + 0.0004 * x);
    return open[c] * x / sqrt(1 + 0.0001 * x);
}

double disp_sigma_z(enum disp_class c, bool urban, double x)
{
    if (x <= 0)
        return 0;
    if (urban) {
        switch (c) {
        case DISP_A:
        case DISP_B:
            return 0.24 * x * sqrt(1 + 0.001 * x);
        case DISP_C:
            return 0.20 * x;
        case DISP_D:
            return 0.14 * x / sqrt(1 + 0.0003 * x);
        case DISP_E:
        case DISP_F:
            return 0.08 * x / sqrt(1 + 0.0015 * x);
        default:
            return 0;
        }
    }
    switch (c) {
    case DISP_A:
        return 0.20 * x;
    case DISP_B:
        return 0.12 * x;
    case DISP_C:
        return 0.08 * x / sqrt(1 + 0.0002 * x);
    case DISP_D:
        return 0.06 * x / sqrt(1 + 0.0015 * x); /* 0.0015, not the reprints' 0.00015 */
    case DISP_E:
        return 0.03 * x / (1 + 0.0003 * x);
    case DISP_F:
        return 0.016 * x / (1 + 0.0003 * x);
    default:
        return 0;
    }
}

double disp_sigma_x_beals(enum disp_class c, double x)
{
    if (x <= 0)
        return 0;
    if (c <= DISP_C)
        return 0.02 * pow(x, 1.22);
    if (c == DISP_D)
        return 0.04 * pow(x, 1.14);
    return 0.17 * pow(x, 0.97);
}

void disp_puff_sigma(enum disp_class c, double x, double *sy, double *sz)
{
    static const double ay[6] = {0.18, 0.14, 0.10, 0.06, 0.04, 0.02};
    static const double by[6] = {0.92, 0.92, 0.92, 0.92, 0.92, 0.89};
    static const double az[6] = {0.60, 0.53, 0.34, 0.15, 0.10, 0.05};
    static const double bz[6] = {0.75, 0.73, 0.71, 0.70, 0.65, 0.61};
    if (x <= 0 || (unsigned)c >= DISP_CLASS_COUNT) {
        *sy = *sz = 0;
        return;
    }
    *sy = ay[c] * pow(x, by[c]);
    *sz = az[c] * pow(x, bz[c]);
}

double disp_obukhov_length(enum disp_class c, double z0)
{
    switch (c) {
    case DISP_A:
        return -11.4 * pow(z0, 0.10);
    case DISP_B:
        return -26.0 * pow(z0, 0.17);
    case DISP_C:
        return -123.0 * pow(z0, 0.30);
    case DISP_E:
        return 123.0 * pow(z0, 0.30);
    case DISP_F:
        return 26.0 * pow(z0, 0.17);
    default:
        return INFINITY;
    }
}

/* The stability correction ψ(ζ) of the profile. */
static double psi(double zeta)
{
    if (zeta > 0)
        return -4.7 * zeta;
    if (zeta == 0)
        return 0;
    double a = pow(1 - 15 * zeta, 0.25);
    return 2 * log((1 + a) / 2) + log((1 + a * a) / 2) - 2 * atan(a) + M_PI / 2;
}

static double profile(double z, double z0, double l)
{
    double zeta = isinf(l) ? 0 : z / l;
    return log((z + z0) / z0) - psi(zeta);
}

double disp_wind_at(double u_ref, double z_ref, double z, double z0, enum disp_class c)
{
    double l = disp_obukhov_length(c, z0);
    double den = profile(z_ref, z0, l);
    if (!(den > 0))
        return u_ref;
    return u_ref * profile(z, z0, l) / den;
}

double disp_transport_wind(double u_ref, double z_ref, double h, double z0, enum disp_class c)
{
    return disp_wind_at(u_ref, z_ref, h > 3 ? h : 3, z0, c);
}

double disp_palazzi(enum disp_class c, double u, double t_r, double x)
{
    if (t_r <= 0 || x <= 0)
        return 1;
    double sx = disp_sigma_x_beals(c, x);
    return erf(u * t_r / (2 * M_SQRT2 * sx));
}

/* ---- concentrations ---- */

double disp_plume_formula(double q, double u, double sy, double sz, double h, double y, double z)
{
    if (!(sy > 0) || !(sz > 0) || !(u > 0))
        return 0;
    double v = exp(-(z - h) * (z - h) / (2 * sz * sz)) + exp(-(z + h) * (z + h) / (2 * sz * sz));
    return q / (2 * M_PI * u * sy * sz) * exp(-y * y / (2 * sy * sy)) * v;
}

double disp_puff_conc(double m, enum disp_class c, double u, double t, double x, double y)
{
    double sy, sz;
    disp_puff_sigma(c, x, &sy, &sz);
    if (!(sy > 0) || !(sz > 0))
        return 0;
    double sx = sy, d = x - u * t;
    return 2 * m / (pow(2 * M_PI, 1.5) * sx * sy * sz) * exp(-d * d / (2 * sx * sx)) *
           exp(-y * y / (2 * sy * sy));
}

/* ---- units ---- */

double disp_kgm3_to_ppm(double c, double m, double t_k, double p_pa)
{
    return c * 1e9 * DISP_R * t_k / (m * p_pa);
}

double disp_ppm_to_kgm3(double ppm, double m, double t_k, double p_pa)
{
    return ppm * m * p_pa / (1e9 * DISP_R * t_k);
}

double disp_ppm_to_mgm3(double ppm, double m, double t_k, double p_pa)
{
    return disp_ppm_to_kgm3(ppm, m, t_k, p_pa) * 1e6;
}

double disp_mgm3_to_ppm(double mgm3, double m, double t_k, double p_pa)
{
    return disp_kgm3_to_ppm(mgm3 * 1e-6, m, t_k, p_pa);
}

bool disp_dense_gas(double rel, double q, double u, double t_k, double p_pa, double *criterion)
{
    double crit = 0;
    if (rel > 1 && q > 0 && u > 0) {
        double rho_a = p_pa * DISP_M_AIR * 1e-3 / (DISP_R * t_k);
        double rho_0 = rho_a * rel;
        double g0 = DISP_G * (rho_0 - rho_a) / rho_a;
        double q0 = q / rho_0;
        double d = sqrt(q0 / u);
        crit = cbrt(g0 * q0 / (u * u * u * d));
    }
    if (criterion)
        *criterion = crit;
    return crit >= 0.15;
}
