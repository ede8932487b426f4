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
export function mapOption({ worst = new Map(), vehicles = [], track = null, labels = true, zoom = 1, trackPos = null, vehicleLabels = true }) {
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
  return {
    backgroundColor: 'transparent',
    tooltip: { trigger: 'item', backgroundColor: '#0d2137ee', borderColor: '#2b5a8a', textStyle: { color: '#dbe7f5' } },
    geo: {
      map: 'park', roam: true, zoom, aspectScale: Math.cos((lat * Math.PI) / 180), layoutCenter: ['50%', '50%'],
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
