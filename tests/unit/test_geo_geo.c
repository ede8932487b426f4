/* Unit tests for geo/: haversine against known distances, projection error at park scale
 * (5 km around 36.18 N 118.17 E, compared with haversine), point in polygon with holes and on
 * edges, distance to polylines, area and centroid. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "geo/geo.h"

#include <math.h>

static const struct geo_point REF = {36.18, 118.17};

/* the point at distance d metres and bearing b degrees from p (spherical direct problem) */
static struct geo_point dest(struct geo_point p, double b, double d)
{
    double r = M_PI / 180, c = d / GEO_EARTH_RADIUS_M, p1 = p.lat * r, br = b * r;
    double p2 = asin(sin(p1) * cos(c) + cos(p1) * sin(c) * cos(br));
    double l2 = p.lon * r + atan2(sin(br) * sin(c) * cos(p1), cos(c) - sin(p1) * sin(p2));
    return (struct geo_point){p2 / r, l2 / r};
}

static void test_haversine(void **state)
{
    assert_true(geo_haversine_m(REF, REF) == 0);
    /* one degree of latitude = R * pi / 180 */
    struct geo_point a = {36, 118}, b = {37, 118};
    assert_true(fabs(geo_haversine_m(a, b) - GEO_EARTH_RADIUS_M * M_PI / 180) < 1e-6);
    /* one degree of longitude at the equator, and symmetric */
    struct geo_point e1 = {0, 0}, e2 = {0, 1};
    assert_true(fabs(geo_haversine_m(e1, e2) - 111195.08) < 0.01);
    assert_true(geo_haversine_m(e1, e2) == geo_haversine_m(e2, e1));
    /* antipodes */
    struct geo_point n = {90, 0}, s = {-90, 0};
    assert_true(fabs(geo_haversine_m(n, s) - M_PI * GEO_EARTH_RADIUS_M) < 1e-6);
    /* the direct problem agrees */
    assert_true(fabs(geo_haversine_m(REF, dest(REF, 37, 4321)) - 4321) < 1e-6);
    assert_true(fabs(geo_bearing_deg(REF, dest(REF, 37, 4321)) - 37) < 1e-6);
    assert_true(fabs(geo_bearing_deg(REF, dest(REF, 300, 1000)) - 300) < 1e-6);
    assert_true(geo_bearing_deg(REF, REF) == 0);
}

static void test_projection_error(void **state)
{
    struct geo_proj p;
    geo_proj_init(&p, REF);
    struct geo_xy o = geo_project(&p, REF);
    assert_true(o.x == 0 && o.y == 0);
    /* due east and north land on the axes */
    struct geo_xy e = geo_project(&p, dest(REF, 90, 1000));
    assert_true(fabs(e.x - 1000) < 1e-6 && fabs(e.y) < 1e-6);
    struct geo_xy nn = geo_project(&p, dest(REF, 0, 1000));
    assert_true(fabs(nn.y - 1000) < 1e-6 && fabs(nn.x) < 1e-6);

    /* points on rings up to 5 km (and 7 km, the corners of a 10 km square) around the
     * reference: the planar distance between every pair is within a metre of haversine (in
     * fact within a millimetre), and unprojecting gives the point back */
    struct geo_point pts[72];
    struct geo_xy xy[72];
    size_t n = 0;
    for (int ring = 1; ring <= 3; ring++)
        for (int k = 0; k < 24; k++)
            pts[n++] = dest(REF, k * 15 + ring, ring == 3 ? 7071 : ring * 2500);
    geo_project_n(&p, pts, n, xy);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double dref = hypot(xy[i].x, xy[i].y);
        assert_true(fabs(dref - geo_haversine_m(REF, pts[i])) < 1e-6);
        struct geo_point back = geo_unproject(&p, xy[i]);
        assert_true(fabs(back.lat - pts[i].lat) < 1e-11 && fabs(back.lon - pts[i].lon) < 1e-11);
        for (size_t j = 0; j < n; j++) {
            double planar = hypot(xy[i].x - xy[j].x, xy[i].y - xy[j].y);
            double err = fabs(planar - geo_haversine_m(pts[i], pts[j]));
            if (err > worst)
                worst = err;
        }
    }
    assert_true(worst < 1.0);   /* the requirement */
    assert_true(worst < 0.01);  /* what the azimuthal equidistant projection actually does */
    print_message("projection worst pairwise error within 7 km: %.3g m\n", worst);

    /* why not the naive equirectangular formula x = R*dlon*cos(lat0): two points 5 km north
     * of the reference and 5 km apart east-west come out about 3 m too far apart */
    double kx = GEO_EARTH_RADIUS_M * M_PI / 180 * cos(REF.lat * M_PI / 180);
    double ky = GEO_EARTH_RADIUS_M * M_PI / 180;
    struct geo_point n5 = dest(REF, 0, 5000);
    struct geo_point a = dest(n5, 270, 2500), b = dest(n5, 90, 2500);
    double naive = hypot((a.lon - b.lon) * kx, (a.lat - b.lat) * ky);
    double naive_err = fabs(naive - geo_haversine_m(a, b));
    assert_true(naive_err > 1.0);
    struct geo_xy pa = geo_project(&p, a), pb = geo_project(&p, b);
    assert_true(fabs(hypot(pa.x - pb.x, pa.y - pb.y) - geo_haversine_m(a, b)) < 0.01);
    print_message("naive equirectangular error, 5 km chord 5 km north: %.3g m\n", naive_err);

    /* unproject of the origin, and longitudes stay in range across the antimeridian */
    struct geo_point r0 = geo_unproject(&p, (struct geo_xy){0, 0});
    assert_true(r0.lat == REF.lat && r0.lon == REF.lon);
    struct geo_proj q;
    geo_proj_init(&q, (struct geo_point){10, 179.99});
    struct geo_point w = geo_unproject(&q, (struct geo_xy){5000, 0});
    assert_true(w.lon < -179.9 && w.lon >= -180);
}

/* a 1000 x 1000 square with a 200 x 200 hole at (400..600, 400..600), both clockwise and
 * counter-clockwise versions */
static const struct geo_xy OUTER[] = {{0, 0}, {1000, 0}, {1000, 1000}, {0, 1000}};
static const struct geo_xy HOLE[] = {{400, 400}, {400, 600}, {600, 600}, {600, 400}};
static const struct geo_xy HOLE_CCW[] = {{400, 400}, {600, 400}, {600, 600}, {400, 600},
                                         {400, 400}};

static void test_point_in_polygon(void **state)
{
    struct geo_ring rings[2] = {{OUTER, 4}, {HOLE, 4}};
    struct geo_xy p;
    p = (struct geo_xy){100, 100};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0.5), GEO_INSIDE);
    p = (struct geo_xy){500, 500}; /* in the hole */
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0.5), GEO_OUTSIDE);
    assert_int_equal(geo_point_in_polygon(p, rings, 1, 0.5), GEO_INSIDE); /* without the hole */
    p = (struct geo_xy){1500, 500};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0.5), GEO_OUTSIDE);
    p = (struct geo_xy){-0.1, 500};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0), GEO_OUTSIDE);
    /* edges: outer edge, hole edge, vertex, within eps */
    p = (struct geo_xy){0, 500};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0), GEO_BOUNDARY);
    p = (struct geo_xy){600, 500};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0), GEO_BOUNDARY);
    p = (struct geo_xy){1000, 1000};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0), GEO_BOUNDARY);
    p = (struct geo_xy){999.7, 300};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0.5), GEO_BOUNDARY);
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0.1), GEO_INSIDE);
    p = (struct geo_xy){599.8, 500}; /* just inside the hole, near its edge */
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0.1), GEO_OUTSIDE);
    /* a ray through a vertex counts once: y level with vertices */
    p = (struct geo_xy){200, 400};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0), GEO_INSIDE);
    p = (struct geo_xy){-200, 0.0};
    assert_int_equal(geo_point_in_polygon(p, rings, 2, 0), GEO_OUTSIDE);
    /* orientation and an explicitly closed ring do not matter */
    struct geo_ring r2[2] = {{OUTER, 4}, {HOLE_CCW, 5}};
    p = (struct geo_xy){500, 500};
    assert_int_equal(geo_point_in_polygon(p, r2, 2, 0.5), GEO_OUTSIDE);
    p = (struct geo_xy){700, 500};
    assert_int_equal(geo_point_in_polygon(p, r2, 2, 0.5), GEO_INSIDE);
    /* a concave polygon (a U) */
    static const struct geo_xy U[] = {{0, 0}, {300, 0}, {300, 300}, {200, 300},
                                      {200, 100}, {100, 100}, {100, 300}, {0, 300}};
    struct geo_ring u = {U, 8};
    p = (struct geo_xy){150, 200};
    assert_int_equal(geo_point_in_polygon(p, &u, 1, 0), GEO_OUTSIDE);
    p = (struct geo_xy){50, 200};
    assert_int_equal(geo_point_in_polygon(p, &u, 1, 0), GEO_INSIDE);
    p = (struct geo_xy){250, 250};
    assert_int_equal(geo_point_in_polygon(p, &u, 1, 0), GEO_INSIDE);
    /* degenerate input */
    struct geo_ring empty = {OUTER, 0}, two = {OUTER, 2};
    assert_int_equal(geo_point_in_polygon(p, &empty, 1, 1), GEO_OUTSIDE);
    assert_int_equal(geo_point_in_polygon(p, NULL, 0, 1), GEO_OUTSIDE);
    p = (struct geo_xy){500, 0};
    assert_int_equal(geo_point_in_polygon(p, &two, 1, 0), GEO_BOUNDARY);
    p = (struct geo_xy){500, 10};
    assert_int_equal(geo_point_in_polygon(p, &two, 1, 0), GEO_OUTSIDE);
}

/* the same, on real coordinates: a geofence given in degrees near the reference */
static void test_geofence_in_degrees(void **state)
{
    struct geo_proj p;
    geo_proj_init(&p, REF);
    struct geo_point fence[4] = {{36.17, 118.16}, {36.17, 118.18}, {36.19, 118.18},
                                 {36.19, 118.16}};
    struct geo_point hole[4] = {{36.178, 118.168}, {36.178, 118.172}, {36.182, 118.172},
                                {36.182, 118.168}};
    struct geo_xy f[4], h[4];
    geo_project_n(&p, fence, 4, f);
    geo_project_n(&p, hole, 4, h);
    struct geo_ring rings[2] = {{f, 4}, {h, 4}};
    assert_int_equal(geo_point_in_polygon(geo_project(&p, (struct geo_point){36.175, 118.165}),
                                          rings, 2, 1), GEO_INSIDE);
    assert_int_equal(geo_point_in_polygon(geo_project(&p, REF), rings, 2, 1), GEO_OUTSIDE);
    assert_int_equal(geo_point_in_polygon(geo_project(&p, (struct geo_point){36.2, 118.17}),
                                          rings, 2, 1), GEO_OUTSIDE);
    /* on the southern edge (a parallel: slightly curved on the plane, within 1 m) */
    assert_int_equal(geo_point_in_polygon(geo_project(&p, (struct geo_point){36.17, 118.17}),
                                          rings, 2, 1), GEO_BOUNDARY);
    /* area: about 2.224 km x 1.796 km minus 0.445 x 0.359 */
    double a = geo_polygon_area(rings, 2);
    assert_true(a > 3.6e6 && a < 3.9e6);
}

static void test_distance_to_polyline(void **state)
{
    static const struct geo_xy L[] = {{0, 0}, {1000, 0}, {1000, 1000}};
    size_t seg = 99;
    double t = -1;
    struct geo_xy p = {500, 30};
    assert_true(fabs(geo_dist_polyline(p, L, 3, &seg, &t) - 30) < 1e-9);
    assert_int_equal(seg, 0);
    assert_true(fabs(t - 0.5) < 1e-12);
    p = (struct geo_xy){1020, 600};
    assert_true(fabs(geo_dist_polyline(p, L, 3, &seg, &t) - 20) < 1e-9);
    assert_int_equal(seg, 1);
    p = (struct geo_xy){-30, -40}; /* beyond the first vertex */
    assert_true(fabs(geo_dist_polyline(p, L, 3, &seg, &t) - 50) < 1e-9);
    assert_int_equal(seg, 0);
    assert_true(t == 0);
    p = (struct geo_xy){1003, 1004}; /* beyond the end */
    assert_true(fabs(geo_dist_polyline(p, L, 3, NULL, NULL) - 5) < 1e-9);
    p = (struct geo_xy){1100, -100}; /* outside the corner */
    assert_true(fabs(geo_dist_polyline(p, L, 3, NULL, NULL) - hypot(100, 100)) < 1e-9);
    p = (struct geo_xy){3, 4};
    assert_true(fabs(geo_dist_polyline(p, L, 1, &seg, &t) - 5) < 1e-12);
    seg = 7;
    assert_true(geo_dist_polyline(p, L, 0, &seg, &t) == -1);
    assert_int_equal(seg, 7);
    /* a degenerate segment */
    static const struct geo_xy D[] = {{10, 10}, {10, 10}};
    assert_true(fabs(geo_dist_polyline(p, D, 2, NULL, NULL) - hypot(7, 6)) < 1e-12);

    /* a route corridor in degrees: a vehicle 50 m east of a north-south road */
    struct geo_proj pr;
    geo_proj_init(&pr, REF);
    struct geo_point road[3] = {dest(REF, 180, 3000), REF, dest(REF, 0, 3000)};
    struct geo_xy r[3];
    geo_project_n(&pr, road, 3, r);
    struct geo_point v = dest(dest(REF, 0, 1200), 90, 50);
    double d = geo_dist_polyline(geo_project(&pr, v), r, 3, &seg, NULL);
    assert_true(fabs(d - 50) < 0.01);
    assert_int_equal(seg, 1);
}

static void test_area_centroid(void **state)
{
    struct geo_ring rings[2] = {{OUTER, 4}, {HOLE, 4}};
    assert_true(geo_ring_area(OUTER, 4) == 1e6);                 /* counter-clockwise */
    assert_true(geo_ring_area(HOLE, 4) == -40000);               /* clockwise */
    assert_true(geo_polygon_area(rings, 2) == 1e6 - 40000);
    struct geo_xy c;
    assert_int_equal(geo_polygon_centroid(rings, 2, &c), PW_OK);
    assert_true(fabs(c.x - 500) < 1e-9 && fabs(c.y - 500) < 1e-9);
    /* an off-centre hole moves the centroid away from it */
    static const struct geo_xy H2[] = {{0, 0}, {500, 0}, {500, 1000}, {0, 1000}};
    struct geo_ring r2[2] = {{OUTER, 4}, {H2, 4}};
    assert_int_equal(geo_polygon_centroid(r2, 2, &c), PW_OK);
    assert_true(fabs(c.x - 750) < 1e-9 && fabs(c.y - 500) < 1e-9);
    /* triangle */
    static const struct geo_xy T[] = {{0, 0}, {3, 0}, {0, 3}};
    struct geo_ring t = {T, 3};
    assert_int_equal(geo_polygon_centroid(&t, 1, &c), PW_OK);
    assert_true(fabs(c.x - 1) < 1e-12 && fabs(c.y - 1) < 1e-12);
    /* zero area: c untouched */
    static const struct geo_xy Z[] = {{0, 0}, {1, 1}, {2, 2}};
    struct geo_ring z = {Z, 3};
    c.x = 42;
    assert_int_equal(geo_polygon_centroid(&z, 1, &c), PW_EINVAL);
    assert_true(c.x == 42);
    assert_true(geo_ring_area(Z, 2) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_haversine),
        cmocka_unit_test(test_projection_error),
        cmocka_unit_test(test_point_in_polygon),
        cmocka_unit_test(test_geofence_in_degrees),
        cmocka_unit_test(test_distance_to_polyline),
        cmocka_unit_test(test_area_centroid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
