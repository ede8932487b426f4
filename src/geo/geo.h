/* geo.h — geometry for park-scale supervision: great-circle distance, a local tangent-plane
 * projection, point in polygon with holes, distance to a polyline, area and centroid.
 *
 * Model: a spherical earth of radius GEO_EARTH_RADIUS_M (the IUGG mean radius). WGS-84 versus
 * sphere differs by up to 0.5 % in absolute distance; that does not matter for geofences and
 * corridors a few kilometres across, where only consistency does.
 *
 * Planar work (polygons, polylines) happens in metres on a local projection: project every
 * vertex once with geo_proj_init/geo_project around a reference point near the park (its centre),
 * then test points projected the same way. The projection is azimuthal equidistant (the tangent
 * plane at the reference, with distances and bearings from the reference exact): within 7 km of
 * the reference, planar distances between any two points differ from haversine by about a
 * millimetre at most (tested). The plain equirectangular formula x = R·Δλ·cos φ0 is off by
 * about 3 m for a 5 km chord 5 km north of the reference at 36° N, which is why it is not used.
 *
 * All functions are pure and thread-safe; none allocates. */
#ifndef PW_GEO_H
#define PW_GEO_H

#include <stddef.h>

#define GEO_EARTH_RADIUS_M 6371008.8

struct geo_point { /* WGS-84 degrees */
    double lat;    /* north positive */
    double lon;    /* east positive */
};

struct geo_xy { /* metres on the local plane */
    double x;   /* east */
    double y;   /* north */
};

/* Great-circle distance in metres (haversine). */
double geo_haversine_m(struct geo_point a, struct geo_point b);
/* Initial bearing from a to b in degrees [0, 360), north 0, clockwise; 0 when a == b. */
double geo_bearing_deg(struct geo_point a, struct geo_point b);

/* ---- local projection ---- */

struct geo_proj {
    struct geo_point ref;
    double sin_lat0, cos_lat0; /* cached */
};

/* Sets up the projection centred on ref (|lat| < 90). */
void geo_proj_init(struct geo_proj *p, struct geo_point ref);
/* Forward: the reference maps to (0, 0). Accurate as described above within tens of km; the
 * antipode of the reference has no image (returns a point at distance pi*R, bearing 0). */
struct geo_xy geo_project(const struct geo_proj *p, struct geo_point pt);
/* Inverse of geo_project (exact up to rounding). */
struct geo_point geo_unproject(const struct geo_proj *p, struct geo_xy xy);
/* Projects n points (in and out may not overlap). */
void geo_project_n(const struct geo_proj *p, const struct geo_point *in, size_t n,
                   struct geo_xy *out);

/* ---- polygons and polylines (planar) ---- */

/* A ring is n vertices; the closing edge (last → first) is implied, and a repeated first vertex
 * at the end is harmless. Orientation does not matter. */
struct geo_ring {
    const struct geo_xy *pts;
    size_t n;
};

enum geo_where {
    GEO_OUTSIDE = 0,
    GEO_INSIDE = 1,
    GEO_BOUNDARY = 2, /* within eps of an edge of any ring (outer or hole) */
};

/* Point in polygon with holes. rings[0] is the outer ring, rings[1..] holes. Rule: even-odd over
 * all rings (a point is inside when a ray from it crosses the rings' edges an odd number of
 * times), so holes need no particular orientation and a hole outside the outer ring or nested
 * rings behave as even-odd says. Points within eps (metres, >= 0) of any edge are GEO_BOUNDARY,
 * checked first; callers decide what the boundary means (the rules module treats it as inside
 * a geofence). Rings with fewer than 3 vertices contribute only their boundary. */
enum geo_where geo_point_in_polygon(struct geo_xy pt, const struct geo_ring *rings,
                                    size_t n_rings, double eps);

/* Distance in metres from pt to the polyline line[0 .. n) (segments between consecutive
 * vertices). n == 1: distance to that vertex; n == 0: returns -1. When seg is not NULL it
 * receives the index i of the nearest segment (line[i] → line[i+1]; 0 when n == 1), and when t
 * is not NULL the position along that segment in [0, 1]. Untouched when n == 0. */
double geo_dist_polyline(struct geo_xy pt, const struct geo_xy *line, size_t n, size_t *seg,
                         double *t);

/* Distance in metres from pt to the segment a-b. */
double geo_dist_segment(struct geo_xy pt, struct geo_xy a, struct geo_xy b, double *t);

/* Signed area (shoelace) of one ring in square metres: positive when counter-clockwise. */
double geo_ring_area(const struct geo_xy *pts, size_t n);
/* Area of a polygon with holes: |outer| - sum |holes| (holes assumed inside and disjoint). */
double geo_polygon_area(const struct geo_ring *rings, size_t n_rings);
/* Area centroid of a polygon with holes. Returns PW_OK and *c, or PW_EINVAL when the area is
 * zero (*c untouched). */
int geo_polygon_centroid(const struct geo_ring *rings, size_t n_rings, struct geo_xy *c);

#endif
