// 敏捷应急: toxic-release incidents and drills.
//  - IncidentsView (#/incidents, #/incidents/ID): the incidents the engine opened from toxic
//    alarms — the probable source with its confidence envelope, the threat zones (red, orange,
//    yellow), the detectors by role, the wind, who to call first, the timeline; live from the
//    event stream (`incident`).
//  - DrillView (#/drill, 演练): a what-if calculation with POST /api/v1/dispersion — the release
//    point picked on the map, the wind prefilled from the park's weather station.
// The server scopes every answer (an enterprise sees its own impacts); the UI only hides the
// actions a role cannot take.
import { h, ref, reactive, shallowRef, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { model, api, can, sse, fmtTime, fmtNum, fmtAgo, toast, seriesKey } from './core.js';
import { Chart, panel, button, select, kv, axisStyle, tooltip } from './ui.js';
import { mapOption, zonesLayer, sourceLayer, pointLayer, detectorsLayer, windLayer, focus, ZONE_COLORS } from './map.js';

// ---- the park's weather: the newest wind (a01007/a01008), temperature and pressure of the
// station nearest to a place ----

const dist2 = (a, b) => ((a[0] - b[0]) * Math.cos((b[1] * Math.PI) / 180)) ** 2 + (a[1] - b[1]) ** 2;

export async function stationWeather(near) {
  const stations = new Map();
  for (const p of model.points) {
    if (!p.series || !['wind_speed', 'wind_direction', 'temperature', 'pressure'].includes(p.quantity)) continue;
    const d = model.dev.get(p.device);
    if (!d || d.kind !== 'env_station') continue;
    const s = stations.get(d.id) || { dev: d, pts: {} };
    s.pts[p.quantity] = model.pt.get(p.id);
    stations.set(d.id, s);
  }
  const list = [...stations.values()].filter((s) => s.pts.wind_speed && s.pts.wind_direction);
  if (!list.length) return null;
  const here = near || model.park.location;
  if (here) list.sort((a, b) => (a.dev.location ? dist2(a.dev.location, here) : 1e9) - (b.dev.location ? dist2(b.dev.location, here) : 1e9));
  for (const s of list.slice(0, 8)) {
    const pts = Object.values(s.pts);
    const qs = pts.map((p) => `match[]=${encodeURIComponent(p.series)}`).join('&');
    let r;
    try { r = await api(`/api/v1/last?${qs}`); } catch { continue; }
    const v = {};
    for (const x of r.data) {
      const p = model.ptBySeries.get(seriesKey(x.metric));
      if (p && !x.quality) v[p.quantity] = x;
    }
    if (v.wind_speed && v.wind_direction) {
      return { station: s.dev.id, name: s.dev.name, at: Math.min(v.wind_speed.ts, v.wind_direction.ts),
        speed_ms: v.wind_speed.value, from_deg: v.wind_direction.value,
        temperature_c: v.temperature?.value, pressure_kpa: v.pressure?.value };
    }
  }
  return null;
}

// ---- shared pieces ----

const levelColour = (i) => ZONE_COLORS[Math.min(i, ZONE_COLORS.length - 1)];
const flagText = (f) => (t(`drill.flag.${f}`) !== `drill.flag.${f}` ? t(`drill.flag.${f}`) : f);
const kindText = (k) => (t(`inc.kind.${k}`) !== `inc.kind.${k}` ? t(`inc.kind.${k}`) : k);
const fmtDur = (s) => (s == null ? '—' : s < 60 ? `${Math.round(s)} ${t('drill.sec')}` : `${fmtNum(s / 60, 2)} ${t('drill.min')}`);

function zonesTable(zones, id) {
  return h('table', { class: 'tbl compact', id }, [
    h('thead', h('tr', [h('th', t('levelLabel')), h('th', 'ppm'), h('th', t('inc.maxDist')), h('th', t('inc.areaM2')), h('th', t('flags'))])),
    h('tbody', (zones || []).map((z, i) => h('tr', { 'data-level': z.level, 'data-reached': z.reached === false || !z.polygon ? '0' : '1' }, [
      h('td', [h('i', { class: 'zone-sw', style: { background: levelColour(i) } }), ' ', z.level]),
      h('td', fmtNum(z.ppm)),
      h('td', { class: 'zone-dist' }, z.polygon ? `${Math.round(z.max_distance_m)} m` : t('drill.notReached')),
      h('td', z.polygon && z.area_m2 != null ? `${fmtNum(z.area_m2 / 1e4, 3)} ha` : '—'),
      h('td', (z.flags || []).map(flagText).join('、') || '—'),
    ]))),
  ]);
}

function flagsList(flags, id) {
  if (!flags || !flags.length) return h('p', { class: 'muted', id }, t('drill.noFlags'));
  return h('ul', { class: 'plain flags-list', id }, flags.map((f) => h('li', { 'data-flag': f }, [h('b', '⚠ '), flagText(f)])));
}

// Contacts of an impact: the incident's `phone`, or the enterprise contacts the dispersion answer carries.
function phones(i) {
  const out = [];
  if (i.phone) out.push(h('a', { href: `tel:${i.phone}`, class: 'phone' }, i.phone));
  for (const c of i.contacts || []) {
    if (c.phone) out.push(h('span', { class: 'contact' }, [`${c.name}${c.role ? '（' + c.role + '）' : ''} `, h('a', { href: `tel:${c.phone}`, class: 'phone' }, c.phone)]));
  }
  const eid = i.kind === 'enterprise' ? i.id : i.enterprise; // an area: its enterprise's contacts
  if (!out.length && eid) {
    for (const c of model.ent.get(eid)?.contacts || []) {
      if (c.phone) out.push(h('span', { class: 'contact' }, [`${c.name} `, h('a', { href: `tel:${c.phone}`, class: 'phone' }, c.phone)]));
    }
  }
  return out.length ? out : '—';
}

function impactsTable(impacts, id, incident = false) {
  if (!impacts || !impacts.length) return h('p', { class: 'muted', id }, t('inc.noImpacts'));
  return h('table', { class: 'tbl compact', id }, [
    h('thead', h('tr', [h('th', '#'), h('th', t('kindLabel')), h('th', t('name')), h('th', t('levelLabel')),
      incident ? h('th', t('inc.arrival')) : h('th', t('inc.distance')), incident ? h('th', t('inc.above')) : null, h('th', t('inc.phones'))])),
    h('tbody', impacts.map((i, n) => h('tr', { 'data-kind': i.kind, 'data-id': i.id, 'data-level': i.level }, [
      h('td', String(n + 1)), h('td', kindText(i.kind)), h('td', i.name || i.id), h('td', i.level || '—'),
      incident ? h('td', i.arrival_s == null ? '—' : i.arrival_s <= 0 ? t('inc.already') : fmtDur(i.arrival_s))
        : h('td', i.distance_m != null ? `${Math.round(i.distance_m)} m` : '—'),
      incident ? h('td', fmtDur(i.above_s)) : null,
      h('td', { class: 'phones' }, phones(i)),
    ]))),
  ]);
}

function centrelineOption(cl, zones) {
  if (!cl || !cl.length) return null;
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 16, bottom: 36 },
    tooltip: { ...tooltip, valueFormatter: (v) => `${fmtNum(v)}` },
    xAxis: { type: 'log', name: 'm', nameLocation: 'end', ...axisStyle, min: 100 },
    yAxis: { type: 'log', name: 'ppm', ...axisStyle },
    series: [{
      name: 'ppm', type: 'line', showSymbol: false, data: cl.filter((p) => p.ppm > 0).map((p) => [p.distance_m, p.ppm]), lineStyle: { color: '#00e5ff' },
      markLine: { silent: true, symbol: 'none', data: (zones || []).map((z, i) => ({ yAxis: z.ppm, lineStyle: { color: levelColour(i), type: 'dashed' },
        label: { formatter: `${z.level} ${z.ppm}`, color: levelColour(i), fontSize: 10 } })) },
    }],
  };
}

// The map with a click handler: fn([lon, lat]) for a click anywhere on the map.
function pickMap(option, onPick, id) {
  if (!option) return h('div', { class: 'empty-page small', id: `${id}-nomap` }, t('drill.noSitePlan'));
  return h(Chart, {
    option, cls: 'h-map', merge: false, id,
    onVnodeMounted: (vn) => {
      const c = vn.component?.exposed?.chart?.();
      if (!c || !onPick) return;
      c.getZr().on('click', (e) => {
        const ll = c.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]);
        if (ll && Number.isFinite(ll[0]) && Number.isFinite(ll[1])) onPick([Number(ll[0].toFixed(6)), Number(ll[1].toFixed(6))]);
      });
    },
  });
}

// ---- 演练: the what-if form ----

export const DrillView = {
  name: 'DrillView',
  setup() {
    const chems = ref([]);
    const f = reactive({ chemical: 'h2s', lon: '', lat: '', rate: '1', duration: '10', height: '0', speed: '', from: '', wheight: '10',
      stability: '', terrain: 'urban', temperature: '', pressure: '' });
    const weather = ref(null);
    const result = shallowRef(null);
    const err = ref('');
    const busy = ref(false);
    const asked = ref(null); // the input of the shown result

    async function loadChems() {
      try {
        const r = await api('/api/v1/chemicals');
        const seen = new Set();
        chems.value = [...(r.park || []), ...(r.built_in || [])].filter((c) => !seen.has(c.id) && seen.add(c.id));
        if (chems.value.length && !chems.value.some((c) => c.id === f.chemical)) f.chemical = chems.value[0].id;
      } catch (x) { err.value = x.message; }
    }
    async function loadWeather() {
      const here = f.lon !== '' && f.lat !== '' ? [Number(f.lon), Number(f.lat)] : null;
      const w = await stationWeather(here);
      weather.value = w;
      if (!w) return;
      f.speed = String(Number(w.speed_ms.toFixed(2)));
      f.from = String(Math.round(w.from_deg));
      if (w.temperature_c != null) f.temperature = String(Number(w.temperature_c.toFixed(1)));
      if (w.pressure_kpa != null) f.pressure = String(Number(w.pressure_kpa.toFixed(2)));
    }
    onMounted(() => { loadChems(); loadWeather(); });

    function body() {
      const num = (v) => (v === '' || v == null ? undefined : Number(v));
      const b = {
        chemical: f.chemical,
        source: [num(f.lon), num(f.lat)],
        release: { rate_kg_s: num(f.rate), duration_s: num(f.duration) != null ? Math.round(num(f.duration) * 60) : undefined, height_m: num(f.height) },
        wind: { speed_ms: num(f.speed), from_deg: num(f.from), height_m: num(f.wheight) },
        terrain: f.terrain,
      };
      if (f.stability) b.stability = f.stability;
      if (f.temperature !== '') b.temperature_c = num(f.temperature);
      if (f.pressure !== '') b.pressure_kpa = num(f.pressure);
      return b;
    }
    async function run(e) {
      e?.preventDefault();
      err.value = '';
      if (f.lon === '' || f.lat === '') { err.value = t('drill.pickSource'); return; }
      if (f.speed === '' || f.from === '') { err.value = t('drill.needWind'); return; }
      busy.value = true;
      const b = body();
      try {
        result.value = await api('/api/v1/dispersion', { method: 'POST', json: b });
        asked.value = b;
      } catch (x) { err.value = x.message; }
      busy.value = false;
    }

    const mapOpt = computed(() => {
      void lang.value;
      const r = result.value;
      const src = f.lon !== '' && f.lat !== '' ? [Number(f.lon), Number(f.lat)] : null;
      const w = f.from !== '' ? { from_deg: Number(f.from), speed_ms: f.speed } : null;
      const reached = r ? r.zones.filter((z) => z.polygon) : [];
      const view = r && asked.value ? focus(asked.value.source, Math.max(150, (reached[1] || reached[0] || {}).max_distance_m || 0)) : {};
      return mapOption({ worst: new Map(), ...view, layers: [r ? zonesLayer(r.zones) : null, pointLayer(src, t('drill.source')), windLayer(w, src)] });
    });

    const field = (key, label, attrs = {}) => h('label', [h('span', label), h('input', {
      value: f[key], 'data-f': key, id: `drill-${key}`, onInput: (e) => { f[key] = e.target.value; }, ...attrs })]);

    return () => {
      void lang.value;
      const r = result.value;
      const w = weather.value;
      const chemLabel = (c) => `${lang.value === 'en' ? c.name : (c.name_zh || c.name)}${c.formula ? ` (${c.formula})` : ''}`;
      return h('div', { class: 'page drill-page', id: 'drill' }, [
        h('div', { class: 'page-h' }, [h('h1', t('drill.title')), h('span', { class: 'muted' }, t('drill.hint')),
          h('a', { href: '#/incidents', class: 'link' }, t('nav.incidents'))]),
        h('div', { class: 'grid-1-2' }, [
          h('div', [
            panel(t('drill.input'), h('form', { class: 'form drill-form', id: 'drill-form', onSubmit: run }, [
              h('label', [h('span', t('drill.chemical')), select(f.chemical, chems.value.map((c) => [c.id, chemLabel(c)]), (v) => { f.chemical = v; }, { id: 'drill-chemical' })]),
              h('div', { class: 'form-row' }, [field('lon', t('drill.lon'), { inputmode: 'decimal' }), field('lat', t('drill.lat'), { inputmode: 'decimal' })]),
              h('p', { class: 'muted small' }, t('drill.clickMap')),
              h('div', { class: 'form-row' }, [field('rate', t('drill.rate'), { inputmode: 'decimal' }), field('duration', t('drill.duration'), { inputmode: 'decimal' }),
                field('height', t('drill.height'), { inputmode: 'decimal' })]),
              h('div', { class: 'form-row' }, [field('speed', t('drill.speed'), { inputmode: 'decimal' }), field('from', t('drill.from'), { inputmode: 'decimal' }),
                field('wheight', t('drill.wheight'), { inputmode: 'decimal' })]),
              h('p', { class: 'muted small', id: 'drill-weather' }, w
                ? `${t('drill.fromStation')} ${w.name} (${w.station}) · ${fmtAgo(w.at)}` : t('drill.noStation')),
              h('div', { class: 'form-row' }, [field('temperature', t('drill.temperature'), { inputmode: 'decimal' }), field('pressure', t('drill.pressure'), { inputmode: 'decimal' })]),
              h('div', { class: 'form-row' }, [
                h('label', [h('span', t('drill.stability')), select(f.stability, [['', t('drill.derived')], ...['A', 'B', 'C', 'D', 'E', 'F'].map((c) => [c, c])], (v) => { f.stability = v; }, { id: 'drill-stability' })]),
                h('label', [h('span', t('drill.terrain')), select(f.terrain, [['urban', t('drill.urban')], ['open', t('drill.open')]], (v) => { f.terrain = v; }, { id: 'drill-terrain' })]),
              ]),
              h('div', { class: 'btnrow' }, [
                h('button', { type: 'submit', id: 'drill-run', disabled: busy.value }, t('drill.run')),
                button(t('drill.refreshWind'), loadWeather, { id: 'drill-wind', class: 'link' })]),
              h('p', { class: 'error', role: 'alert', id: 'drill-error' }, err.value),
            ])),
            r ? panel(t('drill.result'), h('div', { id: 'drill-result', 'data-model': r.model }, [
              kv([[t('drill.chemical'), `${r.chemical?.name_zh || r.chemical?.name || ''}${r.chemical?.formula ? ` (${r.chemical.formula})` : ''}`],
                [t('drill.stability'), `${r.stability?.class || '—'} · ${t(`drill.method.${r.stability?.method}`)}`],
                [t('drill.transport'), `${fmtNum(r.transport_wind_ms)} m/s`]]),
              zonesTable(r.zones, 'drill-zones'),
              h('h4', t('flags')), flagsList(r.flags, 'drill-flags'),
            ])) : null,
          ]),
          h('div', [
            panel(t('parkMap'), [
              h('div', { class: 'map-wrap', id: 'drill-map', 'data-zones': r ? String(r.zones.filter((z) => z.polygon).length) : '0' },
                pickMap(mapOpt.value, (ll) => { f.lon = String(ll[0]); f.lat = String(ll[1]); if (!weather.value) loadWeather(); }, 'drill-chart')),
              h('div', { class: 'map-legend' }, (r ? r.zones : []).map((z, i) => h('span', [h('i', { style: { background: levelColour(i) } }), `${z.level} ${z.ppm} ppm`]))),
            ], null, 'grow'),
            r ? panel(t('inc.impacts'), impactsTable(r.impacts, 'drill-impacts')) : null,
            r ? panel(t('drill.centreline'), h(Chart, { option: centrelineOption(r.centreline, r.zones), cls: 'h-trend' })) : null,
          ]),
        ]),
      ]);
    };
  },
};

// ---- incidents ----

const impactCount = (i) => (Array.isArray(i.impacts) ? i.impacts.length : Number(i.impacts) || 0);
const worstZone = (inc) => (inc.zones || []).find((z) => z.polygon)?.level || '—';

export default {
  name: 'IncidentsView',
  props: { id: String },
  setup(props) {
    const list = ref([]);
    const detail = shallowRef(null);
    const err = ref('');
    const filter = reactive({ state: 'open' });
    const closeText = ref('');
    let timer = 0, debounce = 0;

    async function load() {
      const q = filter.state ? `?state=${filter.state}` : '';
      try { list.value = await api(`/api/v1/incidents${q}`); err.value = ''; } catch (x) { err.value = x.message; }
      if (props.id) loadDetail();
    }
    async function loadDetail() {
      try { detail.value = await api(`/api/v1/incidents/${encodeURIComponent(props.id)}`); } catch (x) { detail.value = null; err.value = x.message; }
    }
    async function close() {
      err.value = '';
      try {
        const b = closeText.value.trim() ? { reason: closeText.value.trim() } : {};
        detail.value = await api(`/api/v1/incidents/${encodeURIComponent(detail.value.id)}/close`, { method: 'POST', json: b });
        closeText.value = '';
        toast(t('inc.closed'));
        load();
      } catch (x) { err.value = x.message; }
    }
    // an event is a summary ({"event", "id", …} without polygons or the impact list): reload
    const onEvent = () => {
      clearTimeout(debounce);
      debounce = setTimeout(load, 300);
    };
    watch(() => props.id, (v) => { if (v) loadDetail(); else detail.value = null; });
    onMounted(() => { load(); sse.incidentListeners.add(onEvent); timer = setInterval(load, 60000); });
    onBeforeUnmount(() => { clearInterval(timer); clearTimeout(debounce); sse.incidentListeners.delete(onEvent); });

    const mapOpt = computed(() => {
      void lang.value;
      const d = detail.value;
      if (!d) return mapOption({});
      const at = d.source ? [d.source.lon, d.source.lat] : null;
      // centred on the source, showing the worst zone but one (or the worst reached)
      const reached = (d.zones || []).filter((z) => z.polygon);
      const r = reached.length > 1 ? reached[1].max_distance_m : reached.length ? reached[0].max_distance_m : 300;
      return mapOption({ ...focus(at, Math.max(150, r)), layers: [zonesLayer(d.zones), ...sourceLayer(d.source), detectorsLayer(d.detectors), windLayer(d.wind, at)] });
    });

    const detailView = () => {
      const d = detail.value;
      if (!d) return h('div', { class: 'muted pad' }, t('inc.pick'));
      const s = d.source || {};
      const w = d.wind || {};
      return h('div', { class: 'inc-detail', id: 'inc-detail', 'data-id': d.id, 'data-state': d.state }, [
        h('h3', [h('span', { class: ['st', d.state === 'open' ? 'st-active' : 'st-cleared'] }, t(`inc.state.${d.state}`)), ' ', `${d.id} · ${d.chemical}`]),
        kv([[t('inc.opened'), fmtTime(d.opened_at, true)], [t('inc.updated'), h('span', { id: 'inc-updated' }, fmtTime(d.updated_at, true))],
          d.closed_at ? [t('inc.closedAt'), fmtTime(d.closed_at, true)] : null,
          [t('inc.source'), h('span', { id: 'inc-source' }, s.lon != null ? `${fmtNum(s.lon, 7)}, ${fmtNum(s.lat, 6)}${s.candidate ? ` · ${s.candidate === 'grid' ? t('inc.grid') : s.candidate}` : ''}${s.radius_m != null ? ` · ±${Math.round(s.radius_m)} m` : ''}` : (d.note || t('inc.notEstimated')))],
          [t('inc.rate'), s.rate_kg_s != null ? `${fmtNum(s.rate_kg_s)} kg/s${Array.isArray(s.rate_range) ? ` (${fmtNum(s.rate_range[0])}–${fmtNum(s.rate_range[1])})` : ''}` : '—'],
          [t('inc.wind'), h('span', { id: 'inc-wind' }, w.from_deg != null ? `${t('inc.from')} ${Math.round(w.from_deg)}° · ${fmtNum(w.speed_ms)} m/s · ${w.stability || '—'}${w.station ? ' · ' + w.station : ''}` : '—')],
          d.alarm_id != null ? [t('alarm'), h('a', { href: `#/alarms?id=${d.alarm_id}` }, `#${d.alarm_id}`)] : null,
          d.closed_by ? [t('inc.closedBy'), `${d.closed_by}${d.close_reason ? ' · ' + d.close_reason : ''}`] : null].filter(Boolean)),
        can.park() && d.state === 'open' ? h('div', { class: 'btnrow', id: 'inc-actions' }, [
          h('input', { id: 'inc-text', value: closeText.value, placeholder: t('inc.closePh'), onInput: (e) => { closeText.value = e.target.value; } }),
          button(t('inc.close'), close, { id: 'inc-btn-close', class: 'warn' })]) : null,
        err.value ? h('p', { class: 'error', role: 'alert', id: 'inc-error' }, err.value) : null,
        h('h4', t('inc.impactsCall')), impactsTable(d.impacts, 'inc-impacts', true),
        h('h4', t('inc.zones')), zonesTable(d.zones, 'inc-zones'),
        h('h4', t('flags')), flagsList(d.flags, 'inc-flags'),
        h('h4', t('inc.detectors')),
        h('table', { class: 'tbl compact', id: 'inc-detectors' }, [
          h('thead', h('tr', [h('th', t('point')), h('th', t('inc.roleL')), h('th', 'ppm'), h('th', t('levelLabel'))])),
          h('tbody', (d.detectors || []).map((x) => h('tr', { 'data-point': x.point, 'data-role': x.role }, [
            h('td', h('a', { href: `#/point/${encodeURIComponent(x.point)}` }, model.pt.get(x.point)?.name ? `${x.point} · ${model.pt.get(x.point).name}` : x.point)),
            h('td', h('span', { class: `role role-${x.role}` }, t(`inc.role.${x.role}`))), h('td', fmtNum(x.ppm)),
            h('td', x.level ? t(`inc.gasLevel.${x.level}`) : '—')]))),
        ]),
        h('h4', t('inc.timeline')),
        h('ol', { class: 'history', id: 'inc-timeline' }, (d.timeline || []).slice().reverse().map((x) => h('li', [h('span', { class: 'muted' }, fmtTime(x.at, true)), ' ', x.text]))),
      ]);
    };

    return () => {
      void lang.value;
      const d = detail.value;
      return h('div', { class: 'page inc-page', id: 'incidents' }, [
        h('div', { class: 'page-h' }, [h('h1', t('nav.incidents')),
          h('div', { class: 'filters' }, [
            select(filter.state, [['open', t('inc.state.open')], ['closed', t('inc.state.closed')], ['', t('allStates')]], (v) => { filter.state = v; load(); }, { id: 'inc-filter-state' }),
            h('a', { href: '#/drill', class: 'link', id: 'to-drill' }, t('nav.drill'))])]),
        !d && err.value ? h('p', { class: 'error', role: 'alert' }, err.value) : null,
        h('div', { class: 'inc-split' }, [
          h('div', { class: 'inc-left' }, [
            panel(`${t('nav.incidents')} (${list.value.length})`, h('div', { class: 'wo-list', id: 'inc-list' }, list.value.length ? list.value.map((i) => h('a', {
              class: ['wo-row', 'inc-row', i.id === props.id ? 'sel' : '', i.state === 'open' ? 'wo-red' : ''], href: `#/incidents/${encodeURIComponent(i.id)}`, 'data-id': i.id, 'data-state': i.state,
            }, [h('span', i.id), h('span', i.chemical), h('span', t(`inc.state.${i.state}`)), h('span', fmtTime(i.opened_at, true)),
              h('span', { class: 'ell' }, `${t('inc.worst')} ${worstZone(i)}`), h('span', `${impactCount(i)} ${t('inc.impactUnit')}`)])) : h('div', { class: 'muted pad' }, t('inc.none')))),
            panel(t('parkMap'), [
              h('div', { class: 'map-wrap', id: 'inc-map', 'data-zones': d ? String((d.zones || []).filter((z) => z.polygon).length) : '0', 'data-source': d?.source ? '1' : '0' },
                pickMap(mapOpt.value, null, 'inc-chart')),
              h('div', { class: 'map-legend' }, [
                ...(d?.zones || []).map((z, i) => h('span', [h('i', { style: { background: levelColour(i) } }), `${z.level} ${z.ppm} ppm`])),
                ...['alarming', 'reading', 'silent', 'saturated', 'stale'].map((r) => h('span', [h('i', { class: `role-sw role-${r}` }), t(`inc.role.${r}`)]))]),
            ], null, 'grow'),
          ]),
          panel(t('inc.detail'), detailView(), null, 'inc-right'),
        ]),
      ]);
    };
  },
};

// The big screen's layer: the open incidents (with zones and source) and a click-through list.
export function useOpenIncidents() {
  const open = shallowRef([]);
  let debounce = 0;
  async function load() {
    let list;
    try { list = await api('/api/v1/incidents?state=open'); } catch { return; }
    // a list entry may be a summary: fetch the ones without zones
    open.value = await Promise.all(list.map(async (i) => {
      if (Array.isArray(i.zones) && i.source !== undefined) return i;
      try { return await api(`/api/v1/incidents/${encodeURIComponent(i.id)}`); } catch { return i; }
    }));
  }
  const onEvent = () => { clearTimeout(debounce); debounce = setTimeout(load, 300); };
  const layers = () => open.value.flatMap((i) => [zonesLayer(i.zones, `zones-${i.id}`), ...sourceLayer(i.source, `source-${i.id}`),
    windLayer(i.wind, i.source ? [i.source.lon, i.source.lat] : null, `wind-${i.id}`)]);
  return {
    open, load, layers,
    start() { load(); sse.incidentListeners.add(onEvent); },
    stop() { clearTimeout(debounce); sse.incidentListeners.delete(onEvent); },
  };
}

