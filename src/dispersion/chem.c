/* chem.c — the built-in chemical table: the park's toxic gases with their molar mass, vapour
 * density and levels of concern. Every value carries its source and the date it was taken into
 * this table; a value the source does not give is NAN (CO has no AEGL-1: "not recommended").
 * docs/emergency.md prints the table. Only the 60-minute AEGLs are tabulated so far; the other
 * durations, ERPG, PAC and the HJ 169-2018 end points are NAN until they are entered with their
 * source. */
#include "dispersion/dispersion.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define AEGL "US EPA AEGL, 60 min"
#define IDLH "NIOSH IDLH"
#define D "2026-12-04"
#define V(x, src) {x, src, D}
#define NA {NAN, NULL, NULL}
#define AEGL60(v) {NA, NA, V(v, AEGL), NA, NA}
#define AEGL60_NR {NA, NA, NA, NA, NA}

static const struct disp_chemical chems[] = {
    {"hydrogen sulfide", "硫化氢", "H2S", "7783-06-4", 34.08, 1.18,
     {AEGL60(0.51), AEGL60(27), AEGL60(50)}, {NA, NA, NA}, {NA, NA, NA}, V(100, IDLH), {NA, NA}},
    {"chlorine", "氯气", "Cl2", "7782-50-5", 70.90, 2.45,
     {AEGL60(0.50), AEGL60(2.0), AEGL60(20)}, {NA, NA, NA}, {NA, NA, NA}, V(10, IDLH), {NA, NA}},
    {"ammonia", "氨", "NH3", "7664-41-7", 17.03, 0.59,
     {AEGL60(30), AEGL60(160), AEGL60(1100)}, {NA, NA, NA}, {NA, NA, NA}, V(300, IDLH),
     {NA, NA}},
    {"carbon monoxide", "一氧化碳", "CO", "630-08-0", 28.01, 0.97,
     {AEGL60_NR, AEGL60(83), AEGL60(330)}, {NA, NA, NA}, {NA, NA, NA}, V(1200, IDLH), {NA, NA}},
    {"hydrogen chloride", "氯化氢", "HCl", "7647-01-0", 36.46, 1.26,
     {AEGL60(1.8), AEGL60(22), AEGL60(100)}, {NA, NA, NA}, {NA, NA, NA}, V(50, IDLH), {NA, NA}},
    {"sulfur dioxide", "二氧化硫", "SO2", "7446-09-5", 64.07, 2.21,
     {AEGL60(0.20), AEGL60(0.75), AEGL60(30)}, {NA, NA, NA}, {NA, NA, NA}, V(100, IDLH),
     {NA, NA}},
    {"benzene", "苯", "C6H6", "71-43-2", 78.11, 2.70,
     {AEGL60(52), AEGL60(800), AEGL60(4000)}, {NA, NA, NA}, {NA, NA, NA}, V(500, IDLH),
     {NA, NA}},
};

const struct disp_chemical *disp_chemicals(size_t *n)
{
    *n = sizeof chems / sizeof chems[0];
    return chems;
}

const struct disp_chemical *disp_chemical_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof chems / sizeof chems[0]; i++) {
        const struct disp_chemical *c = &chems[i];
        if (strcasecmp(name, c->name) == 0 || strcmp(name, c->name_zh) == 0 ||
            strcasecmp(name, c->formula) == 0 || strcmp(name, c->cas) == 0)
            return c;
    }
    return NULL;
}

size_t disp_chemical_default_levels(const struct disp_chemical *c, struct disp_level *levels)
{
    size_t n = 0;
    for (int k = 2; k >= 0; k--) {
        double v = c->aegl[k][DISP_AEGL_60].v;
        if (isnan(v))
            continue;
        levels[n].ppm = v;
        memset(levels[n].name, 0, sizeof levels[n].name);
        levels[n].name[0] = 'A';
        memcpy(levels[n].name, "AEGL-", 5);
        levels[n].name[5] = (char)('1' + k);
        n++;
    }
    return n;
}
