// Risk points on the park map (四色风险分布图): each located risk point a dot coloured by its risk
// level — 重大 red, 较大 orange, 一般 yellow, 低 blue. The points are loaded once per session (the
// server scopes them: an enterprise sees its own) and refreshed every 5 minutes; the map
// (map.js mapOption) asks for the layer's series on every render, so it redraws when they arrive.
import { shallowRef } from '/vendor/vue.esm-browser.prod.js';
import { api, state, entName } from './core.js';
import { t } from '../i18n.js';
import { html } from './html.js';

export const RISK_COLOUR = { red: '#ff3b3b', orange: '#ff8c1a', yellow: '#f5d90a', blue: '#3c9dff' };
const SIZE = { red: 13, orange: 11, yellow: 9, blue: 8 };
const REFRESH_MS = 5 * 60 * 1000;

export const riskPoints = shallowRef([]);
let loadedAt = 0, loading = false, who = '';

async function load() {
  if (loading) return;
  loading = true;
  try {
    riskPoints.value = (await api('/api/v1/risk-points')).filter((p) => p.lon != null && p.lat != null);
  } catch { /* keep the last; the map works without the layer */ }
  loading = false;
}

// The ECharts series of the layer ([] until loaded, or without located points).
export function riskPointSeries() {
  const me = state.me ? `${state.me.user || ''}/${state.me.enterprise || ''}` : '';
  if (state.me && (me !== who || Date.now() - loadedAt > REFRESH_MS)) {
    who = me;
    loadedAt = Date.now();
    load();
  }
  const pts = riskPoints.value;
  if (!pts.length) return [];
  return [{
    type: 'scatter', coordinateSystem: 'geo', zlevel: 2, name: 'risk-points', symbol: 'circle',
    symbolSize: (v, p) => SIZE[p.data.colour] || 8,
    data: pts.map((p) => ({ name: p.name, value: [p.lon, p.lat], id: p.id, colour: p.colour, grade: p.grade, enterprise: p.enterprise,
      itemStyle: { color: RISK_COLOUR[p.colour] || '#999', borderColor: '#111', borderWidth: 1, opacity: 0.95 } })),
    tooltip: { formatter: (p) => html`${t('hz.riskMap')}: ${p.data.name}<br>${entName(p.data.enterprise)} · ${p.data.grade}` },
  }];
}
