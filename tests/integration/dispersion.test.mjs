// POST /api/v1/dispersion over HTTP against a real daemon: the zones (GeoJSON in lon/lat) agree
// with the plume computed here independently from the formulas of docs/emergency.md, the
// impacts are the model's enterprises and areas inside a zone (scoped for enterprise users),
// stability derivation, the puff train for a list of winds, the dense-gas flag, 400s naming the
// field, the chemical table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Daemon, DATA } from './harness.mjs';

let d, admin, ent1, viewer;

const SRC = [118.17, 36.18];
const base = () => ({
  chemical: 'H2S',
  source: SRC,
  release: { rate_kg_s: 1, duration_s: 3600, height_m: 0 },
  wind: { speed_ms: 5, from_deg: 270, height_m: 10 },
  stability: 'D',
  terrain: 'open',
  temperature_c: 20,
  pressure_kpa: 101.325,
});

// The steady ground plume, independently: ALOHA's 3 m transport wind (class D: log profile),
// open-country Briggs D, C0 = Q/(π U σy σz), ppm at 20 °C and 101.325 kPa.
const U3 = 5 * Math.log((3 + 0.03) / 0.03) / Math.log((10 + 0.03) / 0.03);
const sy = (x) => 0.08 * x / Math.sqrt(1 + 0.0001 * x);
const sz = (x) => 0.06 * x / Math.sqrt(1 + 0.0015 * x);
const ppm = (kg, M) => kg * 1e9 * 8.314462618 * 293.15 / (M * 101325);
const c0 = (x) => ppm(1 / (Math.PI * U3 * sy(x) * sz(x)), 34.08);
function zoneLength(loc) {
  let lo = 1, hi = 10000;
  for (let i = 0; i < 100; i++) { const m = (lo + hi) / 2; if (c0(m) >= loc) lo = m; else hi = m; }
  return lo;
}
function zoneArea(loc) {
  const xe = zoneLength(loc), n = 20000;
  let a = 0;
  for (let i = 0; i < n; i++) {
    const x = xe * (i + 0.5) / n, c = c0(x);
    if (c > loc) a += 2 * sy(x) * Math.sqrt(2 * Math.log(c / loc)) * xe / n;
  }
  return a;
}
// area of a lon/lat ring in m² on the local tangent plane (fine at park scale)
function ringArea(ring) {
  const k = 6371008.8 * Math.PI / 180, c = Math.cos(SRC[1] * Math.PI / 180);
  let a = 0;
  for (let i = 0; i + 1 < ring.length; i++) {
    const [x1, y1] = [(ring[i][0] - SRC[0]) * k * c, (ring[i][1] - SRC[1]) * k];
    const [x2, y2] = [(ring[i + 1][0] - SRC[0]) * k * c, (ring[i + 1][1] - SRC[1]) * k];
    a += x1 * y2 - x2 * y1;
  }
  return a / 2;
}

before(async () => {
  d = await new Daemon({ model: path.join(DATA, 'dispersion-park.json') }).start();
  admin = await d.login();
  for (const u of [
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
  ]) assert.equal((await d.post('/api/v1/users', u, { token: admin })).status, 201);
  ent1 = await d.login('ent1', 'ent1-password');
  viewer = await d.login('viewer', 'viewer-password');
});

after(async () => { await d?.stop(); });

test('needs a login', async () => {
  assert.equal((await d.post('/api/v1/dispersion', base())).status, 401);
  assert.equal((await d.get('/api/v1/chemicals')).status, 401);
});

test('steady plume: zones agree with the formulas, GeoJSON in lon/lat, centreline, impacts', async () => {
  const r = await d.post('/api/v1/dispersion', base(), { token: viewer });
  assert.equal(r.status, 200, r.text);
  const j = r.json;
  assert.equal(j.model, 'gaussian_plume');
  assert.equal(j.chemical.cas, '7783-06-4');
  assert.equal(j.stability.class, 'D');
  assert.equal(j.stability.method, 'given');
  assert.ok(Math.abs(j.transport_wind_ms - 3.970) < 0.001);
  assert.deepEqual(j.zones.map((z) => [z.level, z.ppm]), [['AEGL-3', 50], ['AEGL-2', 27], ['AEGL-1', 0.51]]);
  for (const z of j.zones.slice(0, 2)) {
    assert.equal(z.reached, true);
    const len = zoneLength(z.ppm), area = zoneArea(z.ppm);
    assert.ok(Math.abs(z.max_distance_m - len) < 0.01 * len, `${z.level} ${z.max_distance_m} vs ${len}`);
    assert.ok(Math.abs(z.area_m2 - area) < 0.01 * area, `${z.level} ${z.area_m2} vs ${area}`);
    assert.equal(z.polygon.type, 'Polygon');
    const ring = z.polygon.coordinates[0];
    assert.deepEqual(ring[0], ring[ring.length - 1]); // closed
    assert.ok(ringArea(ring) > 0); // counter-clockwise (right-hand rule)
    assert.ok(Math.abs(ringArea(ring) - z.area_m2) < 0.01 * z.area_m2);
    // wind from the west: the zone lies east of the source
    for (const [lon] of ring) assert.ok(lon >= SRC[0] - 1e-7);
    assert.ok(Math.abs(z.mg_m3 - z.ppm * 34.08 * 101325 / (8.314462618 * 293.15 * 1000)) < 1e-3 * z.mg_m3);
  }
  // AEGL-1 of 1 kg/s H2S reaches 10 km: cut and flagged
  assert.ok(j.zones[2].flags.includes('beyond_10km'));
  assert.equal(j.zones[2].max_distance_m, 10000);
  assert.ok(j.flags.includes('beyond_10km'));
  assert.ok(j.flags.includes('dense_gas')); // 1 kg/s of H2S meets the screen
  // centreline: 100 m … 10 km, decreasing, equal to the formula
  assert.equal(j.centreline.length, 41);
  const p500 = j.centreline.find((p) => Math.abs(p.distance_m - 501.2) < 1);
  assert.ok(Math.abs(p500.ppm - c0(p500.distance_m)) < 1e-3 * p500.ppm);
  // impacts: E1 300 m downwind in the red zone, E3 and its warehouse 2 km out in the yellow one;
  // E2 and the public area north of the source are not affected; worst first
  assert.deepEqual(j.impacts.map((i) => [i.kind, i.id, i.level]),
    [['enterprise', 'E1', 'AEGL-3'], ['area', 'E3-A1', 'AEGL-1'], ['enterprise', 'E3', 'AEGL-1']]);
  assert.equal(j.impacts[0].contacts[0].phone, '13800000001');
  assert.ok(Math.abs(j.impacts[0].distance_m - 300) < 2);
  assert.equal(j.impacts[1].enterprise, 'E3');
});

test('an enterprise user sees only its own enterprise among the impacts', async () => {
  const r = await d.post('/api/v1/dispersion', base(), { token: ent1 });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.impacts.map((i) => i.id), ['E1']);
  assert.equal(r.json.zones.length, 3); // the zones themselves are not secret
});

test('chemical by properties, custom levels, urban terrain, stack height', async () => {
  const b = { ...base(), chemical: { name: 'mystery', molecular_weight: 50 }, terrain: 'urban',
    release: { rate_kg_s: 0.2, duration_s: 600, height_m: 40 }, levels: [{ name: '红', ppm: 20 }, { name: '黄', ppm: 2 }] };
  delete b.stability;
  b.stability = 'C';
  const r = await d.post('/api/v1/dispersion', b, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.roughness_m, 1);
  assert.equal(r.json.chemical.name, 'mystery');
  assert.deepEqual(r.json.zones.map((z) => z.level), ['红', '黄']);
  // an elevated release: the centreline first rises then falls
  const c = r.json.centreline.map((p) => p.ppm);
  const imax = c.indexOf(Math.max(...c));
  assert.ok(imax > 0 && imax < c.length - 1);
  // a level without a table entry must be given
  const b2 = { ...b };
  delete b2.levels;
  const e = await d.post('/api/v1/dispersion', b2, { token: admin });
  assert.equal(e.status, 400);
  assert.match(e.json.error, /^levels/);
});

test('stability derived: conservative default at night (flagged), GB/T 3840 with cloud, σθ', async () => {
  const b = base();
  delete b.stability;
  // 2026-12-04 22:00 Beijing time: night
  let r = await d.post('/api/v1/dispersion', { ...b, time: '2026-12-04T14:00:00Z' }, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stability.class, 'F');
  assert.equal(r.json.stability.method, 'assumed');
  assert.ok(r.json.stability.solar_elevation_deg < 0);
  assert.ok(r.json.flags.includes('stability_assumed'));
  assert.ok(r.json.flags.includes('stable_night'));
  // noon in June, clear sky, 1.5 m/s: A (GB/T 3840, h0 > 65°)
  r = await d.post('/api/v1/dispersion', { ...b, wind: { speed_ms: 1.5, from_deg: 270 }, time: '2026-06-21T04:00:00Z', cloud: { total_tenths: 2, low_tenths: 1 } }, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stability.class, 'A');
  assert.equal(r.json.stability.method, 'gbt3840');
  assert.ok(r.json.stability.solar_elevation_deg > 65);
  assert.ok(!r.json.flags.includes('stability_assumed'));
  r = await d.post('/api/v1/dispersion', { ...b, sigma_theta_deg: 4 }, { token: admin });
  assert.equal(r.json.stability.class, 'E');
  assert.equal(r.json.stability.method, 'sigma_theta');
});

test('a list of per-minute winds runs the puff train; a wind shift bends the zone', async () => {
  const winds = [];
  for (let i = 0; i < 40; i++) winds.push({ speed_ms: 4, from_deg: i < 20 ? 270 : 0 });
  const b = { ...base(), wind: winds, release: { rate_kg_s: 1, duration_s: 2400 } };
  const r = await d.post('/api/v1/dispersion', b, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.model, 'puff_train');
  const z = r.json.zones[1];
  assert.equal(z.reached, true);
  const ring = z.polygon.coordinates[0];
  // parts east of the source (first 20 minutes) and south of it (after the shift)
  assert.ok(ring.some(([lon, lat]) => lon > SRC[0] + 0.004 && Math.abs(lat - SRC[1]) < 0.002));
  assert.ok(ring.some(([lon, lat]) => lat < SRC[1] - 0.004 && Math.abs(lon - SRC[0]) < 0.003));
  const bad = await d.post('/api/v1/dispersion', { ...b, wind: [{ speed_ms: 4, from_deg: 270 }, { speed_ms: 4 }] }, { token: admin });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /^wind\[1\]\.from_deg/);
  // a day-long release in light, turning wind is refused (bounded work), naming the field
  const day = [];
  for (let i = 0; i < 1440; i++) day.push({ speed_ms: 0.5, from_deg: (i * 7) % 360 });
  const long = await d.post('/api/v1/dispersion', { ...base(), stability: 'F', terrain: 'urban', wind: day,
    release: { rate_kg_s: 10000, duration_s: 86400 } }, { token: admin });
  assert.equal(long.status, 400, long.text);
  assert.match(long.json.error, /^release\.duration_s/);
});

test('chlorine is flagged as a dense gas; low wind is flagged', async () => {
  const r = await d.post('/api/v1/dispersion', { ...base(), chemical: '氯气', wind: { speed_ms: 0.8, from_deg: 90 } }, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.chemical.formula, 'Cl2');
  assert.ok(r.json.flags.includes('dense_gas'));
  assert.ok(r.json.flags.includes('low_wind'));
  assert.ok(r.json.dense_gas_criterion > 0.15);
});

test('bad input gets 400 naming the field', async () => {
  const cases = [
    [{ release: { rate_kg_s: -1 } }, /^release\.rate_kg_s/],
    [{ release: { rate_kg_s: 'lots' } }, /^release\.rate_kg_s: expected a number/],
    [{ release: { duration_s: 60 } }, /^release\.rate_kg_s: required/],
    [{ release: { rate_kg_s: 1, duration_s: 1e9 } }, /^release\.duration_s/],
    [{ release: { rate_kg_s: 1, height_m: -2 } }, /^release\.height_m/],
    [{ release: { rate_kg_s: 1, volume: 2 } }, /^release\.volume: unknown field/],
    [{ wind: { speed_ms: 5, from_deg: 400 } }, /^wind\.from_deg/],
    [{ wind: { speed_ms: 0, from_deg: 90 } }, /^wind\.speed_ms/],
    [{ wind: { from_deg: 90 } }, /^wind\.speed_ms: required/],
    [{ wind: undefined }, /^wind: required/],
    [{ chemical: 'unobtainium' }, /^chemical: unknown/],
    [{ chemical: { name: 'x' } }, /^chemical\.molecular_weight: required/],
    [{ chemical: { molecular_weight: 5000 }, levels: [{ name: 'x', ppm: 1 }] }, /^chemical\.molecular_weight/],
    [{ source: [118.17] }, /^source/],
    [{ source: [200, 36] }, /^source/],
    [{ stability: 'G' }, /^stability/],
    [{ terrain: 'forest' }, /^terrain/],
    [{ roughness_m: 0.5 }, /^roughness_m: give roughness_m or terrain/],
    [{ terrain: undefined, roughness_m: 10 }, /^roughness_m/],
    [{ temperature_c: 99 }, /^temperature_c/],
    [{ pressure_kpa: 10 }, /^pressure_kpa/],
    [{ levels: [] }, /^levels/],
    [{ levels: [{ name: 'x', ppm: -1 }] }, /^levels\[0\]\.ppm/],
    [{ levels: [{ ppm: 3 }] }, /^levels\[0\]\.name/],
    [{ colour: 'red' }, /^colour: unknown field/],
    [{ stability: undefined, time: 1e300 }, /^time/],
    [{ stability: undefined, time: 'yesterday' }, /^time/],
    [{ stability: undefined, cloud: { total_tenths: 11 } }, /^cloud/],
    [{ stability: undefined, sigma_theta_deg: 'wide' }, /^sigma_theta_deg/],
  ];
  for (const [patch, re] of cases) {
    const b = { ...base(), ...patch };
    for (const k of Object.keys(b)) if (b[k] === undefined) delete b[k];
    const r = await d.post('/api/v1/dispersion', b, { token: admin });
    assert.equal(r.status, 400, `${JSON.stringify(patch)}: ${r.text}`);
    assert.match(r.json.error, re, JSON.stringify(patch));
  }
  const r = await d.req('POST', '/api/v1/dispersion', { token: admin, body: 'not json' });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^body/);
  const big = await d.req('POST', '/api/v1/dispersion', { token: admin, body: JSON.stringify({ ...base(), pad: 'x'.repeat(70000) }) });
  assert.equal(big.status, 413);
});

test('GET /api/v1/chemicals: the built-in table with sources and dates, in the import format', async () => {
  const r = await d.get('/api/v1/chemicals', { token: viewer });
  assert.equal(r.status, 200);
  assert.ok(Array.isArray(r.json.park));
  assert.equal(r.json.built_in.length, 7);
  const h2s = r.json.built_in.find((c) => c.formula === 'H2S');
  assert.equal(h2s.name_zh, '硫化氢');
  assert.equal(h2s.cas, '7783-06-4');
  assert.equal(h2s.molecular_weight, 34.08);
  assert.equal(h2s.levels.aegl3['60min'].value, 50);
  assert.match(h2s.levels.aegl3['60min'].source, /AEGL/);
  assert.match(h2s.levels.aegl3['60min'].date, /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(h2s.levels.aegl3['10min'], undefined);
  assert.equal(h2s.levels.idlh.value, 100);
  const co = r.json.built_in.find((c) => c.formula === 'CO');
  assert.equal(co.levels.aegl1, undefined);
  // the built-in entries import into the park model as they are
  const imp = await d.post('/api/v1/model/import', { version: 1, chemicals: [co] }, { token: admin });
  assert.equal(imp.status, 200, imp.text);
  const again = await d.get('/api/v1/chemicals', { token: viewer });
  assert.deepEqual(again.json.park, [co]);
});

test('the park model\'s chemical table is used first and is editable by import', async () => {
  const lv = (v) => ({ value: v, source: 'test', date: '2026-12-04' });
  const chems = [
    { id: 'tg', name: 'testgas', name_zh: '测试气', molecular_weight: 50, density: 1.7,
      levels: { aegl3: { '60min': lv(10) }, aegl2: { '60min': lv(3) } } },
    // a park entry for H2S with its own (here: stricter) levels overrides the built-in one
    { id: 'h2s', name: 'hydrogen sulfide', formula: 'H2S', cas: '7783-06-4', molecular_weight: 34.08,
      levels: { aegl3: { '60min': lv(40) }, aegl2: { '60min': lv(20) }, aegl1: { '60min': lv(0.5) } } },
  ];
  let r = await d.post('/api/v1/model/import', { version: 1, chemicals: chems }, { token: admin });
  assert.equal(r.status, 200, r.text);
  r = await d.post('/api/v1/dispersion', { ...base(), chemical: '测试气' }, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.chemical.origin, 'park');
  assert.equal(r.json.chemical.molecular_weight, 50);
  assert.deepEqual(r.json.zones.map((z) => [z.level, z.ppm]), [['AEGL-3', 10], ['AEGL-2', 3]]);
  r = await d.post('/api/v1/dispersion', { ...base(), chemical: 'h2s' }, { token: admin });
  assert.equal(r.json.chemical.origin, 'park');
  assert.deepEqual(r.json.zones.map((z) => z.ppm), [40, 20, 0.5]);
  r = await d.post('/api/v1/dispersion', { ...base(), chemical: 'NH3' }, { token: admin });
  assert.equal(r.json.chemical.origin, 'built_in');
  assert.deepEqual(r.json.zones.map((z) => z.ppm), [1100, 160, 30]);
  // bad chemical entries are refused naming the place
  r = await d.post('/api/v1/model/import', { version: 1, chemicals: [{ id: 'x', name: 'x', molecular_weight: 5, cas: '1-2-3' }] }, { token: admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /chemicals\[0\]\.cas/);
});
