// Shared state of the dashboard: the API client, the signed-in principal, the park model (loaded
// once), the open alarms kept live by the one server-sent event connection, and formatting.
import { reactive, shallowRef, triggerRef, markRaw } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';

export const state = reactive({
  me: null,            // {user, role, enterprise}
  ready: false,        // model loaded
  route: { name: '', arg: '' },
  conn: 'connecting',  // connecting | open | lost
  muted: localStorage.getItem('pw_muted') === '1',
  flash: 0,            // incremented on a new severe alarm
  alarmsVersion: 0,    // incremented whenever the open alarm set changes
  valuesVersion: 0,
  toast: '',
});

// The park model: plain (non-reactive) data, loaded once after login.
export const model = {
  park: {}, enterprises: [], areas: [], installations: [], devices: [], points: [], vehicles: [],
  geofences: [], sitePlan: null,
  ent: new Map(), dev: new Map(), pt: new Map(), ptBySeries: new Map(), area: new Map(),
};

// Open alarms (active + acknowledged), kept live from the event stream.
export const openAlarms = shallowRef(new Map());
// Latest values by canonical series key, fed by `values` events and /api/v1/last.
export const lastValues = new Map();
// Recent alarm events for the ticker (newest first).
export const ticker = shallowRef([]);

export class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

export async function api(path, opts = {}) {
  // X-Requested-With: the server refuses unsafe requests with the session cookie without it
  // (a cross-origin page cannot add it; docs/api.md, "Cross-site requests").
  const o = { credentials: 'same-origin', ...opts, headers: { 'X-Requested-With': 'parkwatch', ...(opts.headers || {}) } };
  if (o.json !== undefined) {
    o.body = JSON.stringify(o.json);
    o.headers['Content-Type'] = 'application/json';
    delete o.json;
  }
  const res = await fetch(path, o);
  if (res.status === 401 && !path.endsWith('/login')) {
    state.me = null;
    throw new ApiError(401, t('sessionEnded'));
  }
  const text = await res.text();
  let body;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!res.ok) throw new ApiError(res.status, (body && body.error) || `${res.status}`);
  if (opts.withHeaders) return { body, headers: res.headers };
  return body;
}

export const can = {
  act: () => state.me && state.me.role !== 'viewer',
  admin: () => state.me && state.me.role === 'admin',
  park: () => state.me && (state.me.role === 'admin' || state.me.role === 'supervisor'),
  // may act on work orders (a department acts on the orders assigned to it)
  workorders: () => state.me && state.me.role !== 'viewer',
};

// ---- series keys ----

// Parses `name{a="x",b="y"}` into {__name__, a, b}.
export function parseSeries(s) {
  const m = /^([^{]*)(?:\{(.*)\})?$/.exec(s || '');
  const o = { __name__: m ? m[1] : s };
  if (m && m[2]) {
    const re = /(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
    let x;
    while ((x = re.exec(m[2]))) o[x[1]] = x[2].replace(/\\(.)/g, '$1');
  }
  return o;
}
export function seriesKey(metric) {
  const labels = Object.keys(metric).filter((k) => k !== '__name__').sort();
  return `${metric.__name__}{${labels.map((k) => `${k}="${metric[k]}"`).join(',')}}`;
}
export const keyOf = (series) => seriesKey(parseSeries(series));

// ---- model ----

export async function loadModel() {
  const [park, enterprises, areas, installations, devices, points, vehicles, geofences] =
    await Promise.all(['park', 'enterprises', 'areas', 'installations', 'devices', 'points',
      'vehicles', 'geofences'].map((p) => api(`/api/v1/${p}`)));
  Object.assign(model, { park, enterprises, areas, installations, devices, points, vehicles, geofences });
  model.ent = new Map(enterprises.map((e) => [e.id, e]));
  model.dev = new Map(devices.map((d) => [d.id, { ...d, points: [] }]));
  model.area = new Map(areas.map((a) => [a.id, a]));
  model.pt = new Map();
  model.ptBySeries = new Map();
  for (const p of points) {
    const k = p.series ? keyOf(p.series) : '';
    const q = { ...p, key: k };
    model.pt.set(p.id, q);
    if (k) model.ptBySeries.set(k, q);
    model.dev.get(p.device)?.points.push(q);
  }
  model.sitePlan = park.has_site_plan ? markRaw(await api('/api/v1/site-plan')) : null;
  state.ready = true;
}

// ---- alarms ----

export async function reloadOpenAlarms() {
  const m = new Map();
  let before = '';
  for (let page = 0; page < 10; page++) {
    const r = await api(`/api/v1/alarms?state=active,acknowledged&limit=500${before}`, { withHeaders: true });
    for (const a of r.body) m.set(a.id, a);
    const next = r.headers.get('X-Next-Before');
    if (!next) break;
    before = `&before=${next}`;
  }
  openAlarms.value = m;
  state.alarmsVersion++;
}

const LEVELS = { blue: 1, yellow: 2, orange: 3, red: 4 };
export const levelNum = (l) => LEVELS[l] || 0;
export const LEVEL_COLOR = { red: '#ff3b3b', orange: '#ff8c1a', yellow: '#f5d90a', blue: '#3c9dff', none: '#2b4a68' };

// Worst open level per enterprise (and per device).
export function worstBy(field) {
  const w = new Map();
  for (const a of openAlarms.value.values()) {
    const k = a[field];
    if (!k) continue;
    if (levelNum(a.level) > levelNum(w.get(k))) w.set(k, a.level);
  }
  return w;
}

// A human description of an alarm in the current language.
export function describe(a) {
  if (/^vehicle_/.test(a.rule || '')) {
    const v = model.vehicles.find((x) => x.id === a.source || x.id === a.device);
    const kind = a.rule.slice(8);
    const k = t(`valarm.${kind}`);
    return { what: v ? `${v.plate} (${v.id})` : a.source, text: k === `valarm.${kind}` ? kind : k };
  }
  const p = model.pt.get(a.point);
  const d = model.dev.get(a.device);
  const what = p ? `${d ? d.name : a.device} · ${p.name}` : d ? d.name : a.source;
  const cond = t(`cond.${a.condition}`) !== `cond.${a.condition}` ? t(`cond.${a.condition}`) : a.condition;
  const rule = t(`rule.${a.rule}`) !== `rule.${a.rule}` ? t(`rule.${a.rule}`) : a.rule;
  const unit = p ? p.unit : '';
  const val = a.value != null ? ` ${fmtNum(a.value)}${unit ? ' ' + unit : ''}` : '';
  const thr = a.threshold != null ? ` (${t('setpoint')} ${fmtNum(a.threshold)})` : '';
  return { what, text: `${rule} · ${cond}${val}${thr}` };
}

// ---- formatting ----

export function fmtNum(v, digits = 3) {
  if (v == null || Number.isNaN(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  return String(Number(v.toPrecision(digits + (a >= 1 ? 1 : 0))));
}
export function fmtTime(ms, withDate = false) {
  if (ms == null || ms === '') return '—';
  const d = new Date(typeof ms === 'string' ? Date.parse(ms) : ms);
  if (Number.isNaN(d.getTime())) return '—';
  const loc = lang.value === 'en' ? 'en-GB' : 'zh-CN';
  const opt = { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false };
  if (withDate) Object.assign(opt, { year: 'numeric', month: '2-digit', day: '2-digit' });
  return d.toLocaleString(loc, opt);
}
export function fmtAgo(ms) {
  if (ms == null) return t('never');
  if (typeof ms === 'string') ms = Date.parse(ms);
  if (Number.isNaN(ms)) return '—';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return t('agoS').replace('{n}', s);
  if (s < 3600) return t('agoM').replace('{n}', Math.round(s / 60));
  if (s < 86400) return t('agoH').replace('{n}', Math.round(s / 3600));
  return t('agoD').replace('{n}', Math.round(s / 86400));
}
export function entName(id) {
  if (!id) return t('parkOwned');
  const e = model.ent.get(id);
  return e ? e.name : id;
}
export function shortName(name) {
  return (name || '').replace(/^示范/, '').replace(/(股份)?有限(责任)?公司$/, '').replace(/集团$/, '') || name;
}
export function quality(q) {
  if (!q) return t('q.0');
  const k = `q.${q}`;
  return t(k) === k ? `${t('quality')} ${q}` : t(k);
}

export function toast(msg) {
  state.toast = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { state.toast = ''; }, 4000);
}

export function navigate(hash) { if (location.hash !== hash) location.hash = hash; }

// ---- alert sound (Web Audio, no file) ----

let audio = null;
export function beep() {
  if (state.muted) return;
  try {
    audio = audio || new AudioContext();
    if (audio.state === 'suspended') audio.resume();
    const now = audio.currentTime;
    for (let i = 0; i < 3; i++) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.type = 'square';
      o.frequency.value = i % 2 ? 660 : 880;
      g.gain.setValueAtTime(0.0001, now + i * 0.28);
      g.gain.exponentialRampToValueAtTime(0.15, now + i * 0.28 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.28 + 0.24);
      o.connect(g).connect(audio.destination);
      o.start(now + i * 0.28);
      o.stop(now + i * 0.28 + 0.26);
    }
  } catch { /* no audio device: the visual flash remains */ }
}
export function setMuted(m) { state.muted = m; localStorage.setItem('pw_muted', m ? '1' : '0'); }

// ---- the one event stream ----

// Alarm events and values arrive on one EventSource; they are queued and applied in batches
// (every 300 ms) so that a burst of events costs one re-render. The last event id is kept so a
// new connection (after an error that closed the old one) resumes without losing alarms.
export const sse = {
  es: null, lastId: '', values: '', queue: [], vqueue: [], timer: 0, listeners: new Set(), woListeners: new Set(),
  valueListeners: new Set(), retry: 0,
  incidentListeners: new Set(), permitListeners: new Set(),

  start() {
    this.stop();
    const q = new URLSearchParams();
    if (this.values) q.set('values', this.values);
    if (this.lastId) q.set('last_event_id', this.lastId);
    const es = new EventSource(`/api/v1/events${q.toString() ? '?' + q : ''}`);
    this.es = es;
    state.conn = state.conn === 'open' ? 'connecting' : state.conn;
    es.onopen = () => { state.conn = 'open'; this.retry = 0; };
    es.onerror = () => {
      if (this.es !== es) return;
      state.conn = 'lost';
      if (es.readyState === EventSource.CLOSED) {
        // the browser gave up (e.g. an HTTP error): try again ourselves, resuming from lastId
        this.es = null;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(async () => {
          try { await api('/api/v1/me'); } catch { return; }
          this.start();
        }, Math.min(10000, 1000 * 2 ** this.retry++));
      }
    };
    const note = (e) => { if (e.lastEventId) this.lastId = e.lastEventId; };
    es.addEventListener('hello', (e) => { note(e); state.conn = 'open'; });
    es.addEventListener('alarm', (e) => { note(e); this.queue.push(JSON.parse(e.data)); this.schedule(); });
    es.addEventListener('values', (e) => { note(e); this.vqueue.push(...JSON.parse(e.data)); this.schedule(); });
    es.addEventListener('reset', (e) => { note(e); reloadOpenAlarms().catch(() => {}); });
    // the session was logged out elsewhere, expired or the user removed: back to the login
    es.addEventListener('revoked', () => { this.stop(); state.me = null; });
    es.addEventListener('workorder', (e) => { note(e); const ev = JSON.parse(e.data); for (const f of this.woListeners) f(ev); });
    // incidents (the incident JSON or a summary with its id) and permits (the permit JSON)
    es.addEventListener('incident', (e) => { note(e); const ev = JSON.parse(e.data); for (const f of this.incidentListeners) f(ev); });
    es.addEventListener('permit', (e) => { note(e); const ev = JSON.parse(e.data); for (const f of this.permitListeners) f(ev); });
  },
  stop() {
    clearTimeout(this.retryTimer);
    if (this.es) { this.es.close(); this.es = null; }
  },
  setValues(sel) {
    if (sel === this.values) return;
    this.values = sel;
    if (state.me) this.start();
  },
  schedule() {
    if (!this.timer) this.timer = setTimeout(() => this.flush(), 300);
  },
  flush() {
    this.timer = 0;
    const evs = this.queue.splice(0);
    const vals = this.vqueue.splice(0);
    if (evs.length) applyAlarmEvents(evs);
    if (vals.length) {
      for (const v of vals) lastValues.set(seriesKey(v.metric), v);
      state.valuesVersion++;
      for (const f of this.valueListeners) f(vals);
    }
  },
};

function applyAlarmEvents(evs) {
  const m = new Map(openAlarms.value);
  let severe = false;
  const tick = [];
  for (const ev of evs) {
    const a = ev.alarm;
    if (a.state === 'active' || a.state === 'acknowledged') m.set(a.id, a);
    else m.delete(a.id);
    if (['raised', 'reraised', 'updated'].includes(ev.event) || ev.notify) tick.push(ev);
    if (ev.notify && ['raised', 'reraised', 'updated'].includes(ev.event) && levelNum(a.level) >= 3) severe = true;
    for (const f of sse.listeners) f(ev);
  }
  openAlarms.value = m;
  state.alarmsVersion++;
  if (tick.length) ticker.value = [...tick.reverse(), ...ticker.value].slice(0, 50);
  if (severe) { state.flash++; beep(); }
}

export function refresh() { triggerRef(openAlarms); }
