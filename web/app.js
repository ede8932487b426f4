// parkwatch minimal web page: login and the park overview from the model.
// The full dashboard (big screen, alarm console, ...) grows from here.
import { t, apply, setLang, getLang } from './i18n.js';

const $ = (s) => document.querySelector(s);
let me = null;

async function api(path, opts = {}) {
  const res = await fetch(path, { credentials: 'same-origin', ...opts });
  if (res.status === 401) { showLogin(); throw new Error('unauthenticated'); }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

function showLogin() {
  me = null;
  $('#login-view').hidden = false;
  $('#overview-view').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
}

async function login(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const res = await fetch('/api/v1/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: f.get('user'), password: f.get('password') }),
  });
  if (!res.ok) { $('#login-error').textContent = res.status === 429 ? t('tooMany') : t('badLogin'); return; }
  $('#login-error').textContent = '';
  await start();
}

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(tag === 'svg' || attrs.svg ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs)) if (k !== 'svg') e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawMap(geo) {
  const svg = $('#map');
  svg.replaceChildren();
  if (!geo || !geo.features) return;
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  const each = (c, f) => (typeof c[0] === 'number' ? f(c) : c.forEach((x) => each(x, f)));
  for (const ft of geo.features) each(ft.geometry.coordinates, ([x, y]) => {
    minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  });
  const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  const sx = 960 / ((maxX - minX) * k || 1), sy = 660 / ((maxY - minY) || 1), s = Math.min(sx, sy);
  const px = ([x, y]) => `${(20 + (x - minX) * k * s).toFixed(1)},${(20 + (maxY - y) * s).toFixed(1)}`;
  const ring = (r) => r.map(px).join(' ');
  const order = { park_boundary: 0, boundary: 0 };
  const feats = [...geo.features].sort((a, b) => (order[a.properties.kind] ?? 1) - (order[b.properties.kind] ?? 1));
  for (const ft of feats) {
    const g = ft.geometry, kind = ft.properties.kind || '';
    const cls = /boundary/.test(kind) ? 'boundary' : kind === 'enterprise' ? 'plot' : /road|rail|river/.test(kind) ? 'road' : /parking/.test(kind) ? 'parking' : 'other';
    if (g.type === 'Polygon') svg.append(el('polygon', { svg: 1, class: cls, points: ring(g.coordinates[0]) }));
    else if (g.type === 'MultiPolygon') g.coordinates.forEach((p) => svg.append(el('polygon', { svg: 1, class: cls, points: ring(p[0]) })));
    else if (g.type === 'LineString') svg.append(el('polyline', { svg: 1, class: cls, points: ring(g.coordinates) }));
    if (kind === 'enterprise' && g.type === 'Polygon') {
      const c = g.coordinates[0], n = c.length;
      const cx = c.reduce((a, p) => a + p[0], 0) / n, cy = c.reduce((a, p) => a + p[1], 0) / n;
      const [tx, ty] = px([cx, cy]).split(',');
      svg.append(el('text', { svg: 1, x: tx, y: ty, 'text-anchor': 'middle' }, ft.properties.short_name || ft.properties.enterprise || ''));
    }
  }
}

async function start() {
  try { me = await api('/api/v1/me'); } catch { return; }
  $('#login-view').hidden = true;
  $('#overview-view').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = `${me.user} · ${t('roles')[me.role] || me.role}`;
  const [park, ents, devs, vehicles, inst] = await Promise.all([
    api('/api/v1/park').catch(() => ({ name: '' })), api('/api/v1/enterprises'), api('/api/v1/devices'),
    api('/api/v1/vehicles'), api('/api/v1/installations'),
  ]);
  $('#park-name').textContent = getLang() === 'en' && park.name_en ? park.name_en : park.name;
  const points = await api('/api/v1/points');
  const hazards = inst.filter((i) => i.major_hazard);
  const stats = [[t('stEnterprises'), ents.length], [t('stDevices'), devs.length], [t('stPoints'), points.length],
    [t('stVehicles'), vehicles.length], [t('stHazards'), hazards.length]];
  $('#stats').replaceChildren(...stats.map(([k, v]) => { const d = el('div', { class: 'stat' }); d.append(el('b', {}, String(v)), k); return d; }));
  const perEnt = new Map();
  for (const d of devs) perEnt.set(d.enterprise, (perEnt.get(d.enterprise) || 0) + 1);
  const hzEnt = new Map();
  for (const h of hazards) hzEnt.set(h.enterprise, (hzEnt.get(h.enterprise) || 0) + 1);
  $('#enterprises tbody').replaceChildren(...ents.map((e) => {
    const tr = el('tr', { 'data-id': e.id });
    tr.append(el('td', {}, e.name), el('td', {}, e.industry || ''), el('td', {}, String(perEnt.get(e.id) || 0)), el('td', {}, String(hzEnt.get(e.id) || 0)));
    return tr;
  }));
  if (park.has_site_plan) drawMap(await api('/api/v1/site-plan'));
}

function refreshLang() {
  apply();
  $('#lang').textContent = t('switchLang');
  document.title = `parkwatch · ${t('title')}`;
  if (me) start();
}

window.addEventListener('DOMContentLoaded', () => {
  setLang(getLang());
  refreshLang();
  $('#login-form').addEventListener('submit', login);
  $('#lang').addEventListener('click', () => { setLang(getLang() === 'en' ? 'zh-CN' : 'en'); refreshLang(); });
  $('#logout').addEventListener('click', async () => { await fetch('/api/v1/logout', { method: 'POST' }); showLogin(); });
  start();
});
