/* geo.c — haversine, azimuthal equidistant projection, point in polygon (even-odd with a
 * boundary band), distance to polylines, area and centroid. See geo.h for the model. */
#include "geo/geo.h"

#include "base/err.h"

#include <math.h>

#define DEG (M_PI / 180.0)

double geo_haversine_m(struct geo_point a, struct geo_point b)
{
    double p1 = a.lat * DEG, p2 = b.lat * DEG;
    double sdp = sin((p2 - p1) / 2), sdl = sin((b.lon - a.lon) * DEG / 2);
    double h = sdp * sdp + cos(p1) * cos(p2) * sdl * sdl;
    if (h > 1)
        h = 1;
    return 2 * GEO_EARTH_RADIUS_M * atan2(sqrt(h), sqrt(1 - h));
}

double geo_bearing_deg(struct geo_point a, struct geo_point b)
{
    double p1 = a.lat * DEG, p2 = b.lat * DEG, dl = (b.lon - a.lon) * DEG;
    double y = sin(dl) * cos(p2);
    double x = cos(p1) * sin(p2) - sin(p1) * cos(p2) * cos(dl);
    if (x == 0 && y == 0)
        return 0;
    double d = atan2(y, x) / DEG;
    return d < 0 ? d + 360 : (d >= 360 ? d - 360 : d);
}

void geo_proj_init(struct geo_proj *p, struct geo_point ref)
{
    p->ref = ref;
    p->sin_lat0 = sin(ref.lat * DEG);
    p->cos_lat0 = cos(ref.lat * DEG);
}

struct geo_xy geo_project(const struct geo_proj *p, struct geo_point pt)
{
    double phi = pt.lat * DEG, dl = (pt.lon - p->ref.lon) * DEG;
    double dphi = phi - p->ref.lat * DEG;
    double cphi = cos(phi);
    double sdp = sin(dphi / 2), sdl = sin(dl / 2);
    /* angular distance, haversine form (stable for small distances) */
    double h = sdp * sdp + p->cos_lat0 * cphi * sdl * sdl;
    if (h > 1)
        h = 1;
    double c = 2 * atan2(sqrt(h), sqrt(1 - h));
    double k = c < 1e-9 ? 1.0 : c / sin(c);
    /* cos φ0 sin φ - sin φ0 cos φ cos Δλ, written without cancellation */
    double ny = sin(dphi) + 2 * p->sin_lat0 * cphi * sdl * sdl;
    struct geo_xy xy = {
        .x = GEO_EARTH_RADIUS_M * k * cphi * sin(dl),
        .y = GEO_EARTH_RADIUS_M * k * ny,
    };
    if (!isfinite(xy.x) || !isfinite(xy.y)) /* the antipode */
        xy = (struct geo_xy){0, M_PI * GEO_EARTH_RADIUS_M};
    return xy;
}

struct geo_point geo_unproject(const struct geo_proj *p, struct geo_xy xy)
{
    double rho = hypot(xy.x, xy.y);
    if (rho == 0)
        return p->ref;
    double c = rho / GEO_EARTH_RADIUS_M, sc = sin(c), cc = cos(c);
    double s = cc * p->sin_lat0 + xy.y * sc * p->cos_lat0 / rho;
    if (s > 1)
        s = 1;
    if (s < -1)
        s = -1;
    double lon = p->ref.lon +
                 atan2(xy.x * sc, rho * p->cos_lat0 * cc - xy.y * p->sin_lat0 * sc) / DEG;
    while (lon > 180)
        lon -= 360;
    while (lon < -180)
        lon += 360;
    return (struct geo_point){.lat = asin(s) / DEG, .lon = lon};
}

void geo_project_n(const struct geo_proj *p, const struct geo_point *in, size_t n,
                   struct geo_xy *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = geo_project(p, in[i]);
}

double geo_dist_segment(struct geo_xy pt, struct geo_xy a, struct geo_xy b, double *t)
{
    double dx = b.x - a.x, dy = b.y - a.y;
    double l2 = dx * dx + dy * dy, u = 0;
    if (l2 > 0) {
        u = ((pt.x - a.x) * dx + (pt.y - a.y) * dy) / l2;
        u = u < 0 ? 0 : (u > 1 ? 1 : u);
    }
    if (t)
        *t = u;
    return hypot(pt.x - (a.x + u * dx), pt.y - (a.y + u * dy));
}

double geo_dist_polyline(struct geo_xy pt, const struct geo_xy *line, size_t n, size_t *seg,
                         double *t)
{
    if (n == 0)
        return -1;
    if (n == 1) {
        if (seg)
            *seg = 0;
        if (t)
            *t = 0;
        return hypot(pt.x - line[0].x, pt.y - line[0].y);
    }
    double best = INFINITY, bt = 0;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        double u;
        double d = geo_dist_segment(pt, line[i], line[i + 1], &u);
        if (d < best)
            best = d, bi = i, bt = u;
    }
    if (seg)
        *seg = bi;
    if (t)
        *t = bt;
    return best;
}

enum geo_where geo_point_in_polygon(struct geo_xy pt, const struct geo_ring *rings,
                                    size_t n_rings, double eps)
{
    int inside = 0;
    for (size_t r = 0; r < n_rings; r++) {
        const struct geo_xy *v = rings[r].pts;
        size_t n = rings[r].n;
        for (size_t i = 0, j = n ? n - 1 : 0; i < n; j = i++) {
            struct geo_xy a = v[j], b = v[i];
            if (geo_dist_segment(pt, a, b, NULL) <= eps)
                return GEO_BOUNDARY;
            if (n >= 3 && (a.y > pt.y) != (b.y > pt.y) &&
                pt.x < (b.x - a.x) * (pt.y - a.y) / (b.y - a.y) + a.x)
                inside ^= 1;
        }
    }
    return inside ? GEO_INSIDE : GEO_OUTSIDE;
}

double geo_ring_area(const struct geo_xy *pts, size_t n)
{
    if (n < 3)
        return 0;
    /* relative to the first vertex, for precision */
    double s = 0;
    for (size_t i = 1; i + 1 < n; i++)
        s += (pts[i].x - pts[0].x) * (pts[i + 1].y - pts[0].y) -
             (pts[i + 1].x - pts[0].x) * (pts[i].y - pts[0].y);
    return s / 2;
}

double geo_polygon_area(const struct geo_ring *rings, size_t n_rings)
{
    double a = 0;
    for (size_t r = 0; r < n_rings; r++) {
        double ra = fabs(geo_ring_area(rings[r].pts, rings[r].n));
        a += r == 0 ? ra : -ra;
    }
    return a;
}

int geo_polygon_centroid(const struct geo_ring *rings, size_t n_rings, struct geo_xy *c)
{
    double wa = 0, wx = 0, wy = 0;
    for (size_t r = 0; r < n_rings; r++) {
        const struct geo_xy *v = rings[r].pts;
        size_t n = rings[r].n;
        if (n < 3)
            continue;
        double a = 0, cx = 0, cy = 0;
        for (size_t i = 1; i + 1 < n; i++) { /* fan of triangles from v[0] */
            double x1 = v[i].x - v[0].x, y1 = v[i].y - v[0].y;
            double x2 = v[i + 1].x - v[0].x, y2 = v[i + 1].y - v[0].y;
            double t = (x1 * y2 - x2 * y1) / 2;
            a += t;
            cx += t * (x1 + x2) / 3;
            cy += t * (y1 + y2) / 3;
        }
        if (a == 0)
            continue;
        double sign = (r == 0 ? 1 : -1) * (a < 0 ? -1 : 1); /* outer +|A|, holes -|A| */
        wa += sign * a;
        wx += sign * (cx + a * v[0].x);
        wy += sign * (cy + a * v[0].y);
    }
    if (fabs(wa) < 1e-12)
        return PW_EINVAL;
    c->x = wx / wa;
    c->y = wy / wa;
    return PW_OK;
}
