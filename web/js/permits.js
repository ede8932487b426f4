// 特殊作业票证 (GB 30871-2022): the permits enterprises file with the park, checked by the server
// against the live park (findings info / amber / red). Tabs: the list with filters and a permit's
// detail (findings, gas analyses, pauses, the nearby detectors' live values and the wind, the
// actions the role may take), filing a permit (an enterprise files its own; park roles for any),
// CSV import, statistics, and the daily spot-check list with the inspector's result. Active
// permits on a map. Live from the event stream (`permit`). The server scopes every answer.
import { h, ref, reactive, shallowRef, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, can, sse, fmtTime, fmtNum, fmtAgo, entName, shortName, navigate, toast } from './core.js';
import { Chart, panel, button, select, kv, axisStyle, tooltip } from './ui.js';
import { mapOption, permitsLayer, permitCentre, pointLayer } from './map.js';

export const TYPES = ['hot_work', 'confined_space', 'blind_plate', 'height', 'lifting', 'temp_power', 'earthwork', 'road_closure'];
export const STATES = ['filed', 'in_progress', 'paused', 'completed', 'closed', 'cancelled'];
const SEV = { none: 0, info: 1, amber: 2, red: 3 };
// open (the server's `active=1`): filed, in progress or paused — what the maps draw
const ACTIVE = new Set(['filed', 'in_progress', 'paused']);
const OPEN = ACTIVE;

// Which actions each state offers, and who may take them — the server's table
// (src/permit/permit_rules.c) decides; this only chooses the buttons. The enterprise acts on its
// own permits (but cannot cancel one that has started: the park can), the park's roles (admin,
// supervisor) on any; viewers and departments see no buttons.
const BY_STATE = {
  filed: ['start', 'cancel'],
  in_progress: ['pause', 'complete', 'cancel'],
  paused: ['resume', 'complete', 'cancel'],
  completed: ['close'],
  closed: [],
  cancelled: [],
};
const PARK_ONLY = { in_progress: ['cancel'], paused: ['cancel'] };
const isPark = () => state.me && (state.me.role === 'admin' || state.me.role === 'supervisor');
export function mayAct(p) {
  const me = state.me;
  if (!me) return false;
  if (isPark()) return true;
  return me.role === 'enterprise' && p.enterprise === me.enterprise;
}
function actions(p) {
  if (!mayAct(p)) return [];
  return (BY_STATE[p.state] || []).filter((a) => isPark() || !(PARK_ONLY[p.state] || []).includes(a));
}
const mayFile = () => state.me && (state.me.role === 'admin' || state.me.role === 'supervisor' || (state.me.role === 'enterprise' && state.me.enterprise));

// a nearby detector's state from /nearby: normal, amber (>= 10 %LEL), alarm1 (its 一级 setpoint)
const NEAR_CLASS = { alarm1: 'lv-red', amber: 'lv-orange', normal: 'lv-none' };
const nearLevel = (l) => (l ? h('span', { class: ['lv', NEAR_CLASS[l] || 'lv-none'], 'data-level': l }, t(`pt.near.${l}`) !== `pt.near.${l}` ? t(`pt.near.${l}`) : l) : '—');
export const typeText = (p) => `${t(`pt.type.${p.type}`)}${p.grade ? ` · ${t(`pt.grade.${p.grade}`)}` : ''}`;
export const isSpecial = (p) => p.type === 'hot_work' && p.grade === 'special';
export const sevBadge = (s, id) => h('span', { class: ['sev', `sev-${s || 'none'}`], 'data-sev': s || 'none', id }, t(`pt.worst.${s || 'none'}`));
const stateText = (s) => t(`pt.state.${s}`);
const ruleText = (r) => (t(`pt.rule.${r}`) !== `pt.rule.${r}` ? t(`pt.rule.${r}`) : r);

// The park's civil date (its utc_offset_minutes, Beijing by default): the spot-check draw and the
// statistics count by it.
const parkOffsetMs = () => (model.park.utc_offset_minutes ?? 480) * 60000;
const parkDate = (ms) => new Date(ms + parkOffsetMs()).toISOString().slice(0, 10);
const parkMidnightIso = (date, days = 0) => new Date(Date.parse(`${date}T00:00:00Z`) - parkOffsetMs() + days * 86400000).toISOString();

// datetime-local value (local time) ↔ ISO
const toLocalInput = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000); return d.toISOString().slice(0, 16); };
const fromLocalInput = (v) => (v ? new Date(v).toISOString() : undefined);

// The active permits, for the maps (big screen, park map): loaded and kept live from `permit` events.
export function useActivePermits(enterprise) {
  const list = shallowRef([]);
  let debounce = 0;
  async function load() {
    const q = new URLSearchParams({ active: '1' });
    if (enterprise) q.set('enterprise', enterprise);
    try { list.value = await api(`/api/v1/permits?${q}`); } catch { /* keep */ }
  }
  const onEvent = (p) => {
    if (p && p.id && Array.isArray(p.findings)) {
      if (enterprise && p.enterprise !== enterprise) return;
      const rest = list.value.filter((x) => x.id !== p.id);
      list.value = ACTIVE.has(p.state) ? [...rest, p] : rest;
    } else { clearTimeout(debounce); debounce = setTimeout(load, 300); }
  };
  return {
    list, load,
    start() { load(); sse.permitListeners.add(onEvent); },
    stop() { clearTimeout(debounce); sse.permitListeners.delete(onEvent); },
  };
}

// The enterprise page's panel: its active permits, worst finding first.
export function permitsPanel(list) {
  const ps = [...list].sort((a, b) => SEV[b.worst || 'none'] - SEV[a.worst || 'none']);
  return panel(`${t('pt.active')} (${ps.length})`, ps.length ? h('ul', { class: 'plain', id: 'ent-permits' }, ps.map((p) => h('li', { 'data-permit': p.id, 'data-worst': p.worst || 'none' }, [
    sevBadge(p.worst), ' ', isSpecial(p) ? h('span', { class: 'pt-special' }, t('pt.grade.special')) : null, ' ',
    h('a', { href: `#/permits/${encodeURIComponent(p.id)}` }, `${p.id} · ${typeText(p)} · ${stateText(p.state)}${p.equipment ? ' · ' + p.equipment : ''}`)]))) : h('p', { class: 'muted' }, t('pt.noneActive')));
}

function statsChart(title, labels, values, id, horizontal = false) {
  const opt = {
    animation: false,
    grid: { left: horizontal ? 120 : 40, right: 16, top: 10, bottom: horizontal ? 20 : 40 },
    tooltip: { ...tooltip, axisPointer: { type: 'shadow' } },
    xAxis: horizontal ? { type: 'value', minInterval: 1, ...axisStyle } : { type: 'category', data: labels, ...axisStyle, axisLabel: { color: '#8fb0d3', interval: 0, rotate: labels.length > 8 ? 40 : 0, fontSize: 10 } },
    yAxis: horizontal ? { type: 'category', data: labels, inverse: true, ...axisStyle } : { type: 'value', minInterval: 1, ...axisStyle },
    series: [{ type: 'bar', data: values, itemStyle: { color: '#2fa8ff' }, barMaxWidth: 22 }],
  };
  return panel(title, h('div', { class: 'pt-stat', id, 'data-values': values.join(',') }, h(Chart, { option: opt, cls: 'h-dev' })));
}

export default {
  name: 'PermitsView',
  props: { id: String },
  setup(props) {
    const tab = ref(/[?&]tab=(\w+)/.exec(location.hash)?.[1] || 'list');
    const list = ref([]);
    const detail = shallowRef(null);
    const nearby = shallowRef(null);
    const err = ref('');
    const filter = reactive({ state: '', type: '', enterprise: '', active: true });
    const ana = reactive({ point: '', gas: '', value: '', unit: '%LEL', analyst: '' });
    const actText = ref('');
    let timer = 0, debounce = 0;

    async function load() {
      const q = new URLSearchParams();
      if (filter.state) q.set('state', filter.state);
      if (filter.type) q.set('type', filter.type);
      if (filter.enterprise) q.set('enterprise', filter.enterprise);
      if (filter.active) q.set('active', '1');
      try { list.value = await api(`/api/v1/permits?${q}`); } catch (x) { err.value = x.message; }
      if (props.id) loadDetail();
    }
    async function loadDetail() {
      if (!props.id) return;
      try { detail.value = await api(`/api/v1/permits/${encodeURIComponent(props.id)}`); } catch (x) { detail.value = null; err.value = x.message; return; }
      loadNearby();
    }
    async function loadNearby() {
      if (!detail.value) return;
      try { nearby.value = await api(`/api/v1/permits/${encodeURIComponent(detail.value.id)}/nearby`); } catch { nearby.value = null; }
    }
    async function act(a) {
      err.value = '';
      const b = actText.value.trim() ? { text: actText.value.trim() } : {};
      try {
        detail.value = await api(`/api/v1/permits/${encodeURIComponent(detail.value.id)}/${a}`, { method: 'POST', json: b });
        actText.value = '';
        toast(t(`pt.did.${a}`));
        load();
      } catch (x) { err.value = x.message; }
    }
    async function addAnalysis() {
      err.value = '';
      const v = Number(ana.value);
      if (!ana.gas.trim() || ana.value === '' || !Number.isFinite(v)) { err.value = t('pt.needAnalysis'); return; }
      const b = { at: new Date().toISOString(), point: ana.point.trim(), gas: ana.gas.trim(), value: v, unit: ana.unit.trim(), analyst: ana.analyst.trim() };
      try {
        detail.value = await api(`/api/v1/permits/${encodeURIComponent(detail.value.id)}/analyses`, { method: 'POST', json: b });
        ana.value = '';
        toast(t('pt.analysisAdded'));
        loadNearby();
      } catch (x) { err.value = x.message; }
    }

    const onEvent = (p) => {
      if (p && p.id && p.id === props.id && Array.isArray(p.findings)) detail.value = p;
      clearTimeout(debounce);
      debounce = setTimeout(() => { if (tab.value === 'list') load(); }, 300);
    };
    watch(() => props.id, (v) => { if (v) { tab.value = 'list'; loadDetail(); } else { detail.value = null; nearby.value = null; } });
    onMounted(() => {
      load();
      sse.permitListeners.add(onEvent);
      timer = setInterval(() => { if (detail.value && OPEN.has(detail.value.state)) loadNearby(); }, 10000);
    });
    onBeforeUnmount(() => { clearInterval(timer); clearTimeout(debounce); sse.permitListeners.delete(onEvent); });

    // ---- the list and a permit ----
    const listMap = computed(() => {
      void lang.value;
      const shown = list.value.filter((p) => ACTIVE.has(p.state));
      const d = detail.value;
      return mapOption({ layers: [...permitsLayer(d && !shown.some((x) => x.id === d.id) ? [...shown, d] : shown)] });
    });

    const row = (p) => h('a', {
      class: ['wo-row', 'pt-row', `pt-${p.worst || 'none'}`, p.id === props.id ? 'sel' : ''], href: `#/permits/${encodeURIComponent(p.id)}`,
      'data-permit': p.id, 'data-state': p.state, 'data-worst': p.worst || 'none',
    }, [
      h('span', p.id), h('span', isSpecial(p) ? h('span', { class: 'pt-special' }, typeText(p)) : typeText(p)), h('span', { class: 'ell' }, shortName(entName(p.enterprise))),
      h('span', { class: 'pt-state' }, stateText(p.state)), h('span', { class: 'ell' }, `${fmtTime(p.planned_start, true)} – ${fmtTime(p.planned_end)}`), sevBadge(p.worst),
    ]);

    const detailView = () => {
      const p = detail.value;
      if (!p) return h('div', { class: 'muted pad' }, t('pt.pick'));
      const acts = actions(p);
      const nb = nearby.value;
      const findings = [...(p.findings || [])].sort((a, b) => SEV[b.severity] - SEV[a.severity]);
      return h('div', { class: 'pt-detail', id: 'pt-detail', 'data-permit': p.id, 'data-state': p.state }, [
        h('h3', [sevBadge(p.worst, 'pt-worst'), ' ', isSpecial(p) ? h('span', { class: 'pt-special' }, t('pt.grade.special')) : null, ' ', `${p.id} · ${typeText(p)}`]),
        kv([[t('pt.stateL'), h('b', { id: 'pt-state' }, stateText(p.state))], [t('enterprise'), entName(p.enterprise)],
          [t('pt.number'), p.number || '—'],
          [t('area'), p.area ? (model.area.get(p.area)?.name || p.area) : '—'], [t('pt.equipment'), p.equipment || '—'],
          [t('pt.window'), `${fmtTime(p.planned_start, true)} – ${fmtTime(p.planned_end, true)}`],
          [t('pt.filedAt'), fmtTime(p.filed_at, true)], [t('pt.startedAt'), fmtTime(p.started_at, true)],
          [t('pt.outdoor'), p.outdoor ? t('pt.yes') : t('pt.no')],
          [t('pt.leader'), p.leader || '—'], [t('pt.workers'), (p.workers || []).join('、') || '—'], [t('pt.guardian'), p.guardian || '—'],
          [t('pt.video'), p.video ? h('code', p.video) : h('span', isSpecial(p) ? { class: 'error' } : {}, t('pt.noVideo'))]]),
        acts.length ? h('div', { class: 'actions', id: 'pt-actions' }, [
          h('div', { class: 'btnrow' }, acts.map((a) => button(t(`pt.act.${a}`), () => act(a), { id: `pt-btn-${a}`, class: a === 'cancel' ? 'warn' : '' }))),
          h('div', { class: 'btnrow' }, [h('input', { id: 'pt-text', value: actText.value, placeholder: t('pt.textPh'), onInput: (e) => { actText.value = e.target.value; } })]),
        ]) : null,
        err.value ? h('p', { class: 'error', role: 'alert', id: 'pt-error' }, err.value) : null,
        h('h4', `${t('pt.findings')} (${findings.length})`),
        findings.length ? h('ul', { class: 'plain pt-findings', id: 'pt-findings' }, findings.map((f) => h('li', { class: `pt-f pt-f-${f.severity}`, 'data-rule': f.rule, 'data-sev': f.severity }, [
          sevBadge(f.severity), ' ', h('b', ruleText(f.rule)), ' · ', f.text, ' ', h('span', { class: 'muted small' }, fmtTime(f.at, true))]))) : h('p', { class: 'muted', id: 'pt-findings' }, t('pt.noFindings')),
        h('h4', t('pt.nearby')),
        h('div', { id: 'pt-nearby' }, nb ? [
          h('p', { id: 'pt-wind' }, nb.wind ? `${t('inc.wind')}: ${t('inc.from')} ${Math.round(nb.wind.from_deg)}° · ${fmtNum(nb.wind.speed_ms)} m/s · ${nb.wind.station || ''} · ${fmtAgo(nb.wind.at)}` : t('pt.noWind')),
          nb.detectors && nb.detectors.length ? h('table', { class: 'tbl compact' }, [
            h('thead', h('tr', [h('th', t('point')), h('th', t('kindLabel')), h('th', t('inc.distance')), h('th', t('value')), h('th', t('levelLabel'))])),
            h('tbody', nb.detectors.map((x) => h('tr', { 'data-point': x.point, 'data-level': x.level || 'none' }, [
              h('td', h('a', { href: `#/point/${encodeURIComponent(x.point)}` }, model.pt.get(x.point)?.name ? `${x.point} · ${model.pt.get(x.point).name}` : x.point)),
              h('td', x.kind || '—'), h('td', x.distance_m != null ? `${Math.round(x.distance_m)} m` : '—'),
              h('td', x.value != null ? `${fmtNum(x.value)} ${x.unit || ''}` : '—'),
              h('td', nearLevel(x.level))]))),
          ]) : h('p', { class: 'muted' }, t('pt.noDetectors')),
        ] : h('p', { class: 'muted' }, '—')),
        h('h4', t('pt.analyses')),
        h('table', { class: 'tbl compact', id: 'pt-analyses' }, [
          h('thead', h('tr', [h('th', t('time')), h('th', t('pt.samplePoint')), h('th', t('pt.gas')), h('th', t('value')), h('th', t('pt.analyst'))])),
          h('tbody', (p.analyses || []).map((a) => h('tr', [h('td', fmtTime(a.at, true)), h('td', a.point || '—'), h('td', a.gas), h('td', `${fmtNum(a.value)} ${a.unit || ''}`), h('td', a.analyst || '—')]))),
        ]),
        mayAct(p) && OPEN.has(p.state) ? h('div', { class: 'btnrow', id: 'pt-analysis-form' }, [
          ...['point', 'gas', 'value', 'unit', 'analyst'].map((k) => h('input', { 'data-f': k, value: ana[k], placeholder: t(`pt.ana.${k}`), onInput: (e) => { ana[k] = e.target.value; } })),
          button(t('pt.addAnalysis'), addAnalysis, { id: 'pt-btn-analysis' })]) : null,
        h('h4', t('pt.pauses')),
        (p.pauses || []).length ? h('ul', { class: 'plain', id: 'pt-pauses' }, p.pauses.map((x) => h('li', `${fmtTime(x.from, true)} – ${x.to ? fmtTime(x.to, true) : t('pt.ongoing')}`))) : h('p', { class: 'muted', id: 'pt-pauses' }, '—'),
      ]);
    };

    const listTab = () => h('div', { class: 'wo-split' }, [
      h('div', { class: 'inc-left' }, [
        panel(`${t('nav.permits')} (${list.value.length})`, [
          h('div', { class: 'filters', id: 'pt-filters' }, [
            select(filter.state, [['', t('allStates')], ...STATES.map((s) => [s, stateText(s)])], (v) => { filter.state = v; if (v && !ACTIVE.has(v)) filter.active = false; load(); }, { id: 'pt-filter-state' }),
            select(filter.type, [['', t('allKinds')], ...TYPES.map((s) => [s, t(`pt.type.${s}`)])], (v) => { filter.type = v; load(); }, { id: 'pt-filter-type' }),
            state.me?.enterprise ? null : select(filter.enterprise, [['', t('allEnterprises')], ...model.enterprises.map((e) => [e.id, shortName(e.name)])], (v) => { filter.enterprise = v; load(); }, { id: 'pt-filter-enterprise' }),
            h('label', { class: 'inl' }, [h('input', { type: 'checkbox', id: 'pt-filter-active', checked: filter.active, onChange: (e) => { filter.active = e.target.checked; load(); } }), t('pt.activeOnly')]),
          ]),
          h('div', { class: 'wo-list', id: 'pt-list' }, list.value.length ? list.value.map(row) : h('div', { class: 'muted pad' }, t('pt.none'))),
        ]),
        panel(t('pt.map'), h('div', { class: 'map-wrap', id: 'pt-map', 'data-permits': String(list.value.filter((p) => ACTIVE.has(p.state) && permitCentre(p)).length) },
          listMap.value ? h(Chart, { option: listMap.value, cls: 'h-map', merge: false, onEvents: { click: (e) => { if (e.data?.id) navigate(`#/permits/${encodeURIComponent(e.data.id)}`); } } })
            : h('div', { class: 'muted pad' }, t('drill.noSitePlan'))), null, 'grow'),
      ]),
      panel(t('pt.detail'), detailView()),
    ]);

    const tabs = [['list', 'pt.tab.list'], ['file', 'pt.tab.file', mayFile], ['import', 'pt.tab.import', mayFile], ['stats', 'pt.tab.stats'], ['spot', 'pt.tab.spot', () => can.park()]];
    return () => {
      void lang.value;
      return h('div', { class: 'page pt-page', id: 'permits' }, [
        h('div', { class: 'page-h' }, [h('h1', t('nav.permits')),
          h('div', { class: 'tabs', id: 'pt-tabs' }, tabs.filter(([, , ok]) => !ok || ok()).map(([k, key]) => h('button', { type: 'button', class: ['tab', tab.value === k ? 'on' : ''], 'data-tab': k,
            onClick: () => { tab.value = k; if (k === 'list') load(); } }, t(key))))]),
        tab.value === 'list' ? listTab() : tab.value === 'file' ? h(FileForm, { onFiled: (p) => { tab.value = 'list'; navigate(`#/permits/${encodeURIComponent(p.id)}`); load(); } })
          : tab.value === 'import' ? h(ImportForm, { onDone: () => { tab.value = 'list'; load(); } })
            : tab.value === 'stats' ? h(StatsView) : h(SpotView),
      ]);
    };
  },
};

// ---- filing a permit ----

const FileForm = {
  props: { onFiled: Function },
  setup(props) {
    const ent = state.me?.enterprise || '';
    const now = Date.now();
    const f = reactive({ type: 'hot_work', grade: 'second', enterprise: ent || (model.enterprises[0]?.id || ''), area: '', lon: '', lat: '', outdoor: true, equipment: '',
      start: toLocalInput(now + 10 * 60000), end: toLocalInput(now + 4 * 3600000), leader: '', workers: '', guardian: '', video: '', number: '' });
    const err = ref('');
    const busy = ref(false);
    // the area's first vertex… the centroid of its polygon as the default location
    watch(() => f.area, (a) => {
      const ar = model.area.get(a);
      if (ar && Array.isArray(ar.polygon) && ar.polygon.length && f.lon === '') {
        const n = ar.polygon.length;
        f.lon = String(Number((ar.polygon.reduce((s, c) => s + c[0], 0) / n).toFixed(6)));
        f.lat = String(Number((ar.polygon.reduce((s, c) => s + c[1], 0) / n).toFixed(6)));
      }
    });
    async function submit(e) {
      e.preventDefault();
      err.value = '';
      if (f.lon === '' || f.lat === '') { err.value = t('pt.needLocation'); return; }
      const b = {
        type: f.type, grade: f.type === 'hot_work' ? f.grade : null, enterprise: f.enterprise, area: f.area || null,
        location: { type: 'Point', coordinates: [Number(f.lon), Number(f.lat)] }, outdoor: f.outdoor, equipment: f.equipment.trim(),
        planned_start: fromLocalInput(f.start), planned_end: fromLocalInput(f.end), leader: f.leader.trim(),
        workers: f.workers.split(/[,，、\s]+/).map((s) => s.trim()).filter(Boolean), guardian: f.guardian.trim(), video: f.video.trim() || null,
      };
      if (f.number.trim()) b.number = f.number.trim();
      busy.value = true;
      try {
        const p = await api('/api/v1/permits', { method: 'POST', json: b });
        toast(t('pt.filed'));
        props.onFiled?.(p);
      } catch (x) { err.value = x.message; }
      busy.value = false;
    }
    const mapOpt = computed(() => { void lang.value; return mapOption({ layers: [pointLayer(f.lon !== '' && f.lat !== '' ? [Number(f.lon), Number(f.lat)] : null, t('pt.location'))] }); });
    const inp = (k, label, attrs = {}) => h('label', [h('span', label), h('input', { value: f[k], 'data-f': k, id: `pt-f-${k}`, onInput: (e) => { f[k] = e.target.value; }, ...attrs })]);
    return () => {
      const areas = model.areas.filter((a) => a.enterprise === f.enterprise);
      return h('div', { class: 'grid-1-2' }, [
        h('div', panel(t('pt.fileTitle'), h('form', { class: 'form', id: 'pt-file-form', onSubmit: submit }, [
          h('div', { class: 'form-row' }, [
            h('label', [h('span', t('kindLabel')), select(f.type, TYPES.map((s) => [s, t(`pt.type.${s}`)]), (v) => { f.type = v; }, { id: 'pt-f-type' })]),
            f.type === 'hot_work' ? h('label', [h('span', t('pt.gradeL')), select(f.grade, ['special', 'first', 'second'].map((g) => [g, t(`pt.grade.${g}`)]), (v) => { f.grade = v; }, { id: 'pt-f-grade' })]) : null]),
          ent ? null : h('label', [h('span', t('enterprise')), select(f.enterprise, model.enterprises.map((e) => [e.id, e.name]), (v) => { f.enterprise = v; f.area = ''; }, { id: 'pt-f-enterprise' })]),
          h('label', [h('span', t('area')), select(f.area, [['', '—'], ...areas.map((a) => [a.id, a.name])], (v) => { f.area = v; }, { id: 'pt-f-area' })]),
          h('div', { class: 'form-row' }, [inp('lon', t('drill.lon')), inp('lat', t('drill.lat'))]),
          h('p', { class: 'muted small' }, t('pt.clickMap')),
          h('label', { class: 'inl' }, [h('input', { type: 'checkbox', id: 'pt-f-outdoor', checked: f.outdoor, onChange: (e) => { f.outdoor = e.target.checked; } }), t('pt.outdoor')]),
          h('div', { class: 'form-row' }, [inp('number', t('pt.number')), inp('equipment', t('pt.equipment'))]),
          h('div', { class: 'form-row' }, [inp('start', t('pt.plannedStart'), { type: 'datetime-local' }), inp('end', t('pt.plannedEnd'), { type: 'datetime-local' })]),
          h('div', { class: 'form-row' }, [inp('leader', t('pt.leader')), inp('guardian', t('pt.guardian'))]),
          inp('workers', t('pt.workersPh')), inp('video', t('pt.video'), { placeholder: 'rtsp://…' }),
          h('button', { type: 'submit', id: 'pt-file-submit', disabled: busy.value }, t('pt.file')),
          h('p', { class: 'error', role: 'alert', id: 'pt-file-error' }, err.value),
        ]))),
        h('div', panel(t('pt.location'), h('div', { class: 'map-wrap', id: 'pt-file-map' }, mapOpt.value ? h(Chart, {
          option: mapOpt.value, cls: 'h-map', merge: false,
          onVnodeMounted: (vn) => {
            const c = vn.component?.exposed?.chart?.();
            c?.getZr().on('click', (e) => {
              const ll = c.convertFromPixel({ geoIndex: 0 }, [e.offsetX, e.offsetY]);
              if (ll && Number.isFinite(ll[0])) { f.lon = String(Number(ll[0].toFixed(6))); f.lat = String(Number(ll[1].toFixed(6))); }
            });
          },
        }) : h('div', { class: 'muted pad' }, t('drill.noSitePlan'))), null, 'grow')),
      ]);
    };
  },
};

// ---- CSV import ----

const CSV_HEADER = 'type,grade,enterprise,area,lon,lat,polygon,outdoor,equipment,planned_start,planned_end,leader,workers,guardian,video,number';

const ImportForm = {
  props: { onDone: Function },
  setup(props) {
    const text = ref('');
    const err = ref('');
    const out = ref('');
    const rejected = ref([]);
    async function pick(e) {
      const file = e.target.files?.[0];
      if (file) text.value = await file.text();
    }
    async function send() {
      err.value = ''; out.value = ''; rejected.value = [];
      if (!text.value.trim()) { err.value = t('pt.needCsv'); return; }
      try {
        // 201 all filed, 200 some; 400 none (its body still lists the errors by line)
        const res = await fetch('/api/v1/permits/import', { method: 'POST', body: text.value, credentials: 'same-origin',
          headers: { 'Content-Type': 'text/csv', 'X-Requested-With': 'parkwatch' } });
        const r = await res.json().catch(() => null);
        if (!r || !Array.isArray(r.results)) { err.value = (r && r.error) || String(res.status); return; }
        out.value = t('pt.importDone').replace('{f}', r.filed).replace('{r}', r.rejected);
        rejected.value = r.results.filter((x) => x.error);
        if (r.filed) toast(out.value);
      } catch (x) { err.value = x.message; }
    }
    return () => panel(t('pt.importTitle'), h('div', { class: 'form', id: 'pt-import' }, [
      h('p', { class: 'muted small' }, t('pt.importHint')), h('code', CSV_HEADER),
      h('input', { type: 'file', accept: '.csv,text/csv', id: 'pt-import-file', onChange: pick }),
      h('textarea', { rows: 10, id: 'pt-import-text', value: text.value, onInput: (e) => { text.value = e.target.value; }, placeholder: CSV_HEADER }),
      h('div', { class: 'btnrow' }, [button(t('import'), send, { id: 'pt-import-send' }), out.value ? button(t('pt.toList'), () => props.onDone?.(), { class: 'link' }) : null]),
      h('p', { class: 'muted', id: 'pt-import-result' }, out.value),
      rejected.value.length ? h('ul', { class: 'plain', id: 'pt-import-rejected' }, rejected.value.map((x) => h('li', { class: 'error', 'data-line': x.line }, x.error))) : null,
      h('p', { class: 'error', role: 'alert', id: 'pt-import-error' }, err.value),
    ]));
  },
};

// ---- statistics ----

const StatsView = {
  setup() {
    const f = reactive({ from: parkDate(Date.now() - 29 * 86400000), to: parkDate(Date.now()) });
    const s = shallowRef(null);
    const err = ref('');
    async function load() {
      err.value = '';
      const from = parkMidnightIso(f.from), to = parkMidnightIso(f.to, 1);
      try { s.value = await api(`/api/v1/permits/stats?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`); } catch (x) { err.value = x.message; }
    }
    onMounted(load);
    const entries = (o) => Object.entries(o || {}).sort((a, b) => b[1] - a[1]);
    return () => {
      void lang.value;
      const st = s.value;
      const wd = t('pt.weekdays').split(',');
      return h('div', { id: 'pt-stats' }, [
        h('div', { class: 'filters' }, [h('span', t('from')), h('input', { type: 'date', id: 'pt-stats-from', value: f.from, onChange: (e) => { f.from = e.target.value; load(); } }),
          h('span', t('to')), h('input', { type: 'date', id: 'pt-stats-to', value: f.to, onChange: (e) => { f.to = e.target.value; load(); } })]),
        err.value ? h('p', { class: 'error', role: 'alert' }, err.value) : null,
        st ? h('div', { class: 'grid-1-1 pt-stats-grid' }, [
          statsChart(t('pt.byType'), entries(st.by_type).map(([k]) => t(`pt.type.${k}`)), entries(st.by_type).map(([, v]) => v), 'pt-by-type', true),
          statsChart(t('pt.byGrade'), entries(st.by_grade).map(([k]) => (t(`pt.grade.${k}`) !== `pt.grade.${k}` ? t(`pt.grade.${k}`) : k)), entries(st.by_grade).map(([, v]) => v), 'pt-by-grade', true),
          statsChart(t('pt.byEnterprise'), entries(st.by_enterprise).map(([k]) => shortName(entName(k))), entries(st.by_enterprise).map(([, v]) => v), 'pt-by-enterprise', true),
          statsChart(t('pt.byRule'), entries(st.findings_by_rule).map(([k]) => ruleText(k)), entries(st.findings_by_rule).map(([, v]) => v), 'pt-by-rule', true),
          statsChart(t('pt.byHour'), Array.from({ length: 24 }, (_, i) => String(i)), st.by_hour || [], 'pt-by-hour'),
          statsChart(t('pt.byWeekday'), wd, st.by_weekday || [], 'pt-by-weekday'),
        ]) : null,
      ]);
    };
  },
};

// ---- the daily spot-check list (park roles) ----

const SpotView = {
  setup() {
    const date = ref(parkDate(Date.now()));
    const list = ref([]);
    const err = ref('');
    const forms = reactive({});
    async function load() {
      err.value = '';
      try { list.value = await api(`/api/v1/permits/spotchecks?date=${date.value}`); } catch (x) { err.value = x.message; }
    }
    async function record(id) {
      const fm = forms[id] || {};
      err.value = '';
      if (!fm.result) { err.value = t('pt.needResult'); return; }
      if (fm.result === 'problem' && !(fm.text || '').trim()) { err.value = t('pt.needProblemText'); return; }
      try {
        await api(`/api/v1/permits/${encodeURIComponent(id)}/spotcheck`, { method: 'POST', json: { result: fm.result, text: (fm.text || '').trim() } });
        toast(t('pt.spotRecorded'));
        load();
      } catch (x) { err.value = x.message; }
    }
    onMounted(load);
    return () => {
      void lang.value;
      return h('div', { id: 'pt-spot' }, [
        h('div', { class: 'filters' }, [h('span', t('pt.spotDate')), h('input', { type: 'date', id: 'pt-spot-date', value: date.value, onChange: (e) => { date.value = e.target.value; load(); } }),
          h('span', { class: 'muted small' }, t('pt.spotRule'))]),
        err.value ? h('p', { class: 'error', role: 'alert', id: 'pt-spot-error' }, err.value) : null,
        h('table', { class: 'tbl', id: 'pt-spot-list' }, [
          h('thead', h('tr', [h('th', t('pt.permit')), h('th', t('enterprise')), h('th', t('pt.stateL')), h('th', t('reason')), h('th', t('pt.worstL')), h('th', t('pt.result'))])),
          h('tbody', list.value.map((x) => {
            const p = x.permit || {};
            const fm = forms[p.id] || (forms[p.id] = { result: '', text: '' });
            return h('tr', { 'data-permit': p.id, 'data-result': x.result ? x.result.result : '' }, [
              h('td', h('a', { href: `#/permits/${encodeURIComponent(p.id)}` }, `${p.id} · ${typeText(p)}`)), h('td', shortName(entName(p.enterprise))),
              h('td', stateText(p.state)), h('td', x.reason ? (t(`pt.reason.${x.reason}`) !== `pt.reason.${x.reason}` ? t(`pt.reason.${x.reason}`) : x.reason) : '—'), h('td', sevBadge(p.worst)),
              h('td', x.result ? h('span', { class: 'pt-spot-done' }, [h('b', t(`pt.res.${x.result.result}`)), ` · ${x.result.text || ''} · ${x.result.by || ''} ${fmtTime(x.result.at, true)}`,
                x.result.workorder ? [' · ', h('a', { href: `#/workorders/${x.result.workorder}` }, `${t('hz.order')} #${x.result.workorder}`)] : null])
                : h('div', { class: 'btnrow' }, [
                  select(fm.result, [['', t('pt.pickResult')], ['ok', t('pt.res.ok')], ['problem', t('pt.res.problem')]], (v) => { fm.result = v; }, { 'data-f': 'result' }),
                  h('input', { 'data-f': 'text', value: fm.text, placeholder: t('pt.spotTextPh'), onInput: (e) => { fm.text = e.target.value; } }),
                  button(t('pt.record'), () => record(p.id), { 'data-act': 'record' })])),
            ]);
          })),
        ]),
        list.value.length ? null : h('p', { class: 'muted' }, t('pt.noSpot')),
      ]);
    };
  },
};
