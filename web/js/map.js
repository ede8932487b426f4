// The park's one map (园区一张图): the site-plan GeoJSON registered with ECharts; enterprises
// coloured by their worst open alarm, roads and rivers as lines, vehicles and tracks on top.
import { echarts } from './ui.js';
import { model, LEVEL_COLOR, shortName } from './core.js';
import { t } from '../i18n.js';
import { html } from './html.js';
import { riskPointSeries } from './riskpoints_layer.js';

let registered = false;
let lines = [];
let points = [];

const FILL = {
  park_boundary: '#0c2540', green: '#143d2e', reserved: '#22303f', public: '#1d3552',
  hazmat_parking: '#4a4212', sensitive: '#3a2350', gate: '#2b4f75', river: '#123d66',
};

export function ensureMap() {
  if (registered || !model.sitePlan) return registered;
  const polys = [];
  lines = [];
  points = [];
  for (const f of model.sitePlan.features) {
    const g = f.geometry, p = f.properties || {};
    const id = p.id || f.id;
    if (g.type === 'Polygon' || g.type === 'MultiPolygon') {
      polys.push({ ...f, properties: { ...p, name: id } });
    } else if (g.type === 'LineString' || g.type === 'MultiLineString') {
      const cs = g.type === 'LineString' ? [g.coordinates] : g.coordinates;
      for (const c of cs) lines.push({ coords: c, kind: p.kind, name: p.name });
    } else if (g.type === 'Point') {
      points.push({ name: p.name, kind: p.kind, value: g.coordinates });
    }
  }
  echarts.registerMap('park', { type: 'FeatureCollection', features: polys });
  registered = true;
  return true;
}

// worst: Map enterprise → level; vehicles: [{plate, lon, lat, alarm, hazmat}]; track: [[lon,lat],...]
// layers: further series drawn on top (the layer functions below: threat zones, a source and its
// confidence envelope, detectors, the wind, permits).
export function mapOption({ worst = new Map(), vehicles = [], track = null, labels = true, zoom = 1, trackPos = null, vehicleLabels = true, layers = [], center = null }) {
  if (!ensureMap()) return null;
  const regions = [];
  for (const f of model.sitePlan.features) {
    const p = f.properties || {};
    const id = p.id || f.id;
    if (!(f.geometry.type === 'Polygon' || f.geometry.type === 'MultiPolygon')) continue;
    if (p.kind === 'enterprise') {
      const lv = worst.get(p.enterprise);
      regions.push({
        name: id,
        itemStyle: { areaColor: lv ? LEVEL_COLOR[lv] : LEVEL_COLOR.none, borderColor: lv ? '#fff' : '#4f8fc9', borderWidth: lv ? 1.5 : 0.8, opacity: lv ? 0.9 : 0.85 },
        label: { show: labels, color: lv ? '#111' : '#cfe3f7', fontSize: 11, fontWeight: lv ? 'bold' : 'normal' },
        emphasis: { itemStyle: { areaColor: '#3aa0ff' } },
      });
    } else {
      regions.push({
        name: id, silent: p.kind === 'park_boundary',
        itemStyle: { areaColor: FILL[p.kind] || '#1a2b40', borderColor: p.kind === 'park_boundary' ? '#2fa8ff' : '#2a4a6a', borderWidth: p.kind === 'park_boundary' ? 2 : 0.6 },
        label: { show: labels && ['hazmat_parking', 'gate'].includes(p.kind), color: '#e6d36a', fontSize: 10 },
      });
    }
  }
  const nameOf = (id) => {
    const f = model.sitePlan.features.find((x) => (x.properties?.id || x.id) === id);
    if (!f) return id;
    const p = f.properties;
    if (p.kind === 'enterprise') return shortName(model.ent.get(p.enterprise)?.name || p.name);
    return p.name || id;
  };
  const lat = model.park.location ? model.park.location[1] : 36;
  const series = [
    {
      type: 'lines', coordinateSystem: 'geo', polyline: true, silent: true, zlevel: 1,
      data: lines.map((l) => ({ coords: l.coords })),
      lineStyle: { color: '#4f6580', width: 2, opacity: 0.8 },
    },
    {
      type: 'scatter', coordinateSystem: 'geo', zlevel: 2, name: 'vehicles', symbol: 'pin',
      symbolSize: (v, p) => (p.data.alarm ? 26 : 18),
      data: vehicles.map((v) => ({
        name: v.plate, value: [v.lon, v.lat, v.speed || 0], id: v.id, alarm: v.alarm,
        itemStyle: { color: v.alarm ? '#ff3b3b' : v.hazmat ? '#ffb020' : '#3cd68a', borderColor: '#fff', borderWidth: 0.5 },
      })),
      label: { show: vehicleLabels && vehicles.length < 30, formatter: '{b}', position: 'right', color: '#fff', fontSize: 10 },
      emphasis: { label: { show: true, formatter: '{b}', position: 'right', color: '#fff' } },
      tooltip: { formatter: (p) => html`${p.name}<br>${t('speed')}: ${p.value[2] ?? '—'} km/h` },
    },
  ];
  series.push(...riskPointSeries()); // the four-colour risk points (riskpoints_layer.js)
  if (track && track.length) {
    series.push({ type: 'lines', coordinateSystem: 'geo', polyline: true, zlevel: 3, data: [{ coords: track }],
      lineStyle: { color: '#00e5ff', width: 3 } });
    if (trackPos) series.push({ type: 'effectScatter', coordinateSystem: 'geo', zlevel: 4, data: [{ value: trackPos }],
      symbolSize: 14, itemStyle: { color: '#00e5ff' } });
  }
  series.push(...layers.filter(Boolean));
  return {
    backgroundColor: 'transparent',
    tooltip: { trigger: 'item', backgroundColor: '#0d2137ee', borderColor: '#2b5a8a', textStyle: { color: '#dbe7f5' } },
    geo: {
      map: 'park', roam: true, zoom, ...(center ? { center } : {}), aspectScale: Math.cos((lat * Math.PI) / 180), layoutCenter: ['50%', '50%'],
      layoutSize: '96%', regions, label: { show: false, formatter: (p) => nameOf(p.name) },
      itemStyle: { areaColor: '#1a2b40', borderColor: '#2a4a6a' },
      tooltip: { show: true, formatter: (p) => html`${nameOf(p.name)}` },
      emphasis: { label: { show: true, color: '#fff' } },
      selectedMode: false,
    },
    series,
  };
}

// The enterprise id of a clicked map region, or ''.
export function regionEnterprise(name) {
  const f = model.sitePlan?.features.find((x) => (x.properties?.id || x.id) === name);
  return f && f.properties.kind === 'enterprise' ? f.properties.enterprise : '';
}

// ---- layers (series for mapOption's `layers`) ----

// A view on a place: {center, zoom} showing about radius_m around it (never zoomed out beyond the
// whole site plan), for mapOption.
export function focus(lonlat, radius_m) {
  if (!lonlat || !model.sitePlan || !(radius_m > 0)) return {};
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  const walk = (c) => { if (typeof c[0] === 'number') { x0 = Math.min(x0, c[0]); x1 = Math.max(x1, c[0]); y0 = Math.min(y0, c[1]); y1 = Math.max(y1, c[1]); } else c.forEach(walk); };
  for (const f of model.sitePlan.features) if (f.geometry && f.geometry.coordinates) walk(f.geometry.coordinates);
  if (!Number.isFinite(x0)) return {};
  const k = 111320;
  const span = Math.max((x1 - x0) * k * Math.cos((lonlat[1] * Math.PI) / 180), (y1 - y0) * k);
  const zoom = Math.min(5, Math.max(1, span / (2.4 * radius_m)));
  return zoom > 1.05 ? { center: lonlat, zoom } : {};
}

// Colours of the threat zones, worst first: red, orange, yellow (AEGL-3/2/1 or the levels given).
export const ZONE_COLORS = ['#ff3b3b', '#ff8c1a', '#f5d90a', '#3c9dff'];

// A GeoJSON Polygon/MultiPolygon → its outer rings as [[lon,lat],...].
function rings(g) {
  if (!g || !g.coordinates) return [];
  if (g.type === 'Polygon') return g.coordinates.length ? [g.coordinates[0]] : [];
  if (g.type === 'MultiPolygon') return g.coordinates.map((p) => p[0]).filter(Boolean);
  return [];
}

// Filled polygons on the geo: items [{ring, fill, stroke, dash, name, tip}] (custom series: each
// vertex projected with api.coord, so they follow zoom and pan).
function polygonSeries(name, items, z) {
  return {
    type: 'custom', coordinateSystem: 'geo', name, zlevel: z,
    data: items.map((it, i) => ({ value: [i], name: it.name })),
    renderItem: (params, api) => {
      const it = items[params.dataIndex];
      return {
        type: 'polygon', shape: { points: it.ring.map((c) => api.coord(c)) },
        style: { fill: it.fill, stroke: it.stroke, lineWidth: it.width || 1.5, lineDash: it.dash || null },
      };
    },
    tooltip: { formatter: (p) => items[p.dataIndex].tip || html`${items[p.dataIndex].name}` },
  };
}

// Threat zones [{level, ppm, max_distance_m, polygon}], drawn largest (yellow) first so the red
// one stays on top.
export function zonesLayer(zones, name = 'zones') {
  const items = [];
  (zones || []).forEach((zn, i) => {
    const col = ZONE_COLORS[Math.min(i, ZONE_COLORS.length - 1)];
    for (const ring of rings(zn.polygon)) {
      items.push({ ring, fill: `${col}55`, stroke: col, name: zn.level,
        tip: html`${zn.level} · ${zn.ppm} ppm<br>${t('inc.maxDist')}: ${Math.round(zn.max_distance_m ?? 0)} m` });
    }
  });
  items.reverse();
  return items.length ? polygonSeries(name, items, 5) : null;
}

// The probable source and its confidence envelope (dashed).
export function sourceLayer(source, name = 'source') {
  if (!source || source.lon == null || source.lat == null) return [];
  const out = [];
  const env = rings(source.envelope);
  if (env.length) {
    out.push(polygonSeries(`${name}-envelope`, env.map((ring) => ({ ring, fill: '#ffffff18', stroke: '#ffffff', dash: [6, 4], width: 1.5,
      name: t('inc.envelope'), tip: html`${t('inc.envelope')}` })), 6));
  }
  out.push({
    type: 'effectScatter', coordinateSystem: 'geo', name, zlevel: 7, symbolSize: 16, rippleEffect: { scale: 3 },
    data: [{ name: t('inc.source'), value: [source.lon, source.lat] }], itemStyle: { color: '#ff00d4' },
    tooltip: { formatter: () => html`${t('inc.source')}${source.rate_kg_s != null ? ` · ${Number(source.rate_kg_s).toPrecision(3)} kg/s` : ''}` },
  });
  return out;
}

// Where a drill's release is: a plain marker (no ripple: it is not a detected leak).
export function pointLayer(lonlat, label, name = 'pick') {
  if (!lonlat) return null;
  return { type: 'scatter', coordinateSystem: 'geo', name, zlevel: 7, symbol: 'pin', symbolSize: 28,
    data: [{ name: label, value: lonlat }], itemStyle: { color: '#ff00d4', borderColor: '#fff' },
    tooltip: { formatter: () => html`${label}` } };
}

const ROLE_COLOR = { alarming: '#ff3b3b', reading: '#ffb020', silent: '#2fd08a', saturated: '#d36cff', stale: '#51657d' };
// An incident's detectors [{point, lon, lat, ppm, level, role}] coloured by role.
export function detectorsLayer(detectors, name = 'detectors') {
  const ds = (detectors || []).filter((x) => x.lon != null && x.lat != null);
  if (!ds.length) return null;
  return {
    type: 'scatter', coordinateSystem: 'geo', name, zlevel: 8, symbol: 'diamond', symbolSize: 11,
    data: ds.map((x) => ({ name: x.point, value: [x.lon, x.lat], role: x.role, itemStyle: { color: ROLE_COLOR[x.role] || '#8fb0d3', borderColor: '#fff', borderWidth: 0.5 } })),
    tooltip: { formatter: (p) => { const x = ds[p.dataIndex]; return html`${x.point}<br>${t(`inc.role.${x.role}`)} · ${x.ppm ?? '—'} ppm`; } },
  };
}

// The wind as an arrow pointing where the air goes (HJ 212 a01008 is where it comes from).
export function windLayer(wind, at, name = 'wind') {
  if (!wind || wind.from_deg == null || !at) return null;
  return {
    type: 'scatter', coordinateSystem: 'geo', name, zlevel: 9, symbol: 'arrow', symbolSize: [14, 34],
    // (on the geo the arrow symbol's rotation works out to minus the from-direction)
    symbolRotate: -Number(wind.from_deg),
    data: [{ name: t('inc.wind'), value: at }], itemStyle: { color: '#00e5ff', opacity: 0.9 },
    tooltip: { formatter: () => html`${t('inc.wind')}: ${t('inc.from')} ${Math.round(wind.from_deg)}° · ${wind.speed_ms ?? '—'} m/s` },
  };
}

// Active permits: a point (or the first vertex's ring as an outline) coloured by the worst
// finding; special-grade hot work (特级动火) larger, with a ripple.
export const FINDING_COLOR = { none: '#2fd08a', info: '#3c9dff', amber: '#ffb020', red: '#ff3b3b' };
export function permitCentre(p) {
  const g = p.location;
  if (!g) return null;
  if (g.type === 'Point') return g.coordinates;
  const r = rings(g)[0];
  if (!r || !r.length) return null;
  const n = r.length > 1 && r[0][0] === r[r.length - 1][0] && r[0][1] === r[r.length - 1][1] ? r.length - 1 : r.length;
  let x = 0, y = 0;
  for (let i = 0; i < n; i++) { x += r[i][0]; y += r[i][1]; }
  return [x / n, y / n];
}
export function permitsLayer(permits, name = 'permits') {
  const ps = (permits || []).map((p) => ({ p, c: permitCentre(p) })).filter((x) => x.c);
  if (!ps.length) return [];
  const special = (p) => p.type === 'hot_work' && p.grade === 'special';
  const mk = (list, effect) => ({
    type: effect ? 'effectScatter' : 'scatter', coordinateSystem: 'geo', name: effect ? `${name}-special` : name, zlevel: 6,
    symbol: effect ? 'triangle' : 'roundRect', symbolSize: effect ? 20 : 13, rippleEffect: effect ? { scale: 2.5, brushType: 'stroke' } : undefined,
    data: list.map(({ p, c }) => ({ name: p.id, value: c, id: p.id,
      itemStyle: { color: FINDING_COLOR[p.worst] || FINDING_COLOR.none, borderColor: effect ? '#ffffff' : '#0b1a2b', borderWidth: effect ? 2 : 1 } })),
    tooltip: { formatter: (x) => { const p = list[x.dataIndex].p; return html`${p.id} · ${t(`pt.type.${p.type}`)}${p.grade ? ' · ' + t(`pt.grade.${p.grade}`) : ''}<br>${shortName(model.ent.get(p.enterprise)?.name || p.enterprise)}${p.equipment ? ' · ' + p.equipment : ''}<br>${t(`pt.state.${p.state}`)} · ${t(`pt.worst.${p.worst || 'none'}`)}`; } },
  });
  const outlines = [];
  for (const { p } of ps) {
    for (const ring of rings(p.location)) outlines.push({ ring, fill: `${FINDING_COLOR[p.worst] || FINDING_COLOR.none}33`, stroke: FINDING_COLOR[p.worst] || FINDING_COLOR.none, name: p.id });
  }
  return [outlines.length ? polygonSeries(`${name}-areas`, outlines, 5) : null,
    mk(ps.filter((x) => !special(x.p)), false), mk(ps.filter((x) => special(x.p)), true)]
    .filter((s) => s && (s.type === 'custom' || s.data.length));
}
