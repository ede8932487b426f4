// The regulator's supervision report (监管报表) for a month, a quarter or a year: orders by source,
// priority and state, on-time rates, overdue by level, times, per enterprise and per department,
// hazards and 挂牌督办, risk points, the board history. Print-friendly (打印 / the browser's print
// to PDF; the header and the controls are not printed); CSV download from the same route.
import { h, ref, onMounted } from '/vendor/vue.esm-browser.prod.js';
import { t } from '../i18n.js';
import { api, entName, fmtTime } from './core.js';
import { button } from './ui.js';

// The current month in Beijing time, "YYYY-MM".
function thisMonth() {
  const d = new Date(Date.now() + 8 * 3600000);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

const dur = (s) => (s >= 86400 ? `${(s / 86400).toFixed(1)} ${t('wo.d')}` : s >= 3600 ? `${(s / 3600).toFixed(1)} ${t('wo.h')}` : `${Math.round(s / 60)} ${t('wo.m')}`);

function counts(obj, label) {
  const keys = Object.keys(obj || {});
  if (!keys.length) return h('p', { class: 'muted small' }, t('noData'));
  return h('table', { class: 'tbl rpt-counts' }, [
    h('thead', h('tr', [h('th', ''), ...keys.map((k) => h('th', label ? label(k) : k))])),
    h('tbody', h('tr', [h('td', t('rpt.count')), ...keys.map((k) => h('td', String(obj[k])))])),
  ]);
}

function unitTable(rows, id) {
  const cols = [['name', t('rpt.unit')], ['dispatched', t('rpt.dispatched')], ['signed_on_time', t('rpt.signedOnTime')], ['closed', t('rpt.closed')],
    ['on_time_pct', t('rpt.onTimePct')], ['overdue', t('rpt.overdue')], ['returns', t('rpt.returns')], ['extension_requests', t('rpt.extensions')],
    ['avg_sign_s', t('rpt.avgSign')], ['avg_close_s', t('rpt.avgClose')]];
  return h('table', { class: 'tbl', id }, [
    h('thead', h('tr', cols.map(([, l]) => h('th', l)))),
    h('tbody', rows.map((r) => h('tr', { 'data-unit': r.unit }, cols.map(([k]) => h('td',
      k === 'avg_sign_s' || k === 'avg_close_s' ? (r[k] ? dur(r[k]) : '—') : k === 'on_time_pct' ? (r.closed ? `${r[k]}%` : '—') : String(r[k])))))),
  ]);
}

export default {
  setup() {
    const period = ref(thisMonth()), rep = ref(null), err = ref('');
    async function load() {
      err.value = '';
      try { rep.value = await api(`/api/v1/reports/supervision?period=${encodeURIComponent(period.value)}`); } catch (x) { err.value = x.message; rep.value = null; }
    }
    onMounted(load);
    const sec = (title, body) => h('section', { class: 'rpt-sec' }, [h('h2', title), body]);
    return () => {
      const r = rep.value, o = r?.orders;
      return h('div', { class: 'page report-page', id: 'report' }, [
        h('div', { class: 'page-h no-print' }, [h('h1', t('rpt.title')),
          h('div', { class: 'btnrow' }, [
            h('input', { id: 'rpt-period', value: period.value, placeholder: '2026-11 / 2026-Q4 / 2026', onInput: (e) => { period.value = e.target.value.trim(); }, onKeydown: (e) => { if (e.key === 'Enter') load(); } }),
            button(t('rpt.show'), load, { id: 'rpt-show' }),
            h('a', { class: 'btn', id: 'rpt-csv', href: `/api/v1/reports/supervision?period=${encodeURIComponent(period.value)}&format=csv`, download: '' }, 'CSV'),
            button(t('rpt.print'), () => window.print(), { id: 'rpt-print' })])]),
        err.value ? h('p', { class: 'error', role: 'alert', id: 'rpt-error' }, err.value) : null,
        r ? h('article', { class: 'rpt' }, [
          h('h1', { class: 'print-only' }, `${t('rpt.title')} ${r.period.label}`),
          h('p', { class: 'muted', id: 'rpt-period-line' }, `${r.period.label} · ${fmtTime(r.period.from, true)} — ${fmtTime(r.period.to, true)}${r.period.partial ? ` · ${t('rpt.partial')}` : ''}`),
          sec(t('rpt.summary'), h('div', { class: 'rpt-kpis', id: 'rpt-kpis' }, [
            [t('rpt.dispatched'), o.dispatched], [t('rpt.signOnTimePct'), `${o.sign_on_time_pct}%`], [t('rpt.onTimePct'), `${o.on_time_pct}%`],
            [t('rpt.overdue'), o.overdue], [t('rpt.returns'), o.returns], [t('rpt.extensions'), o.extension_requests],
            [t('rpt.avgSign'), o.signed ? dur(o.avg_sign_s) : '—'], [t('rpt.medianClose'), o.closed ? dur(o.median_close_s) : '—'],
            [t('rpt.p90Close'), o.closed ? dur(o.p90_close_s) : '—'], [t('rpt.alarmClosed'), `${o.from_alarms.closed}/${o.from_alarms.dispatched}`],
          ].map(([k, v]) => h('div', { class: 'rpt-kpi' }, [h('b', String(v)), h('span', k)])))),
          sec(t('rpt.bySource'), counts(o.by_source, (k) => t(`wo.src.${k}`))),
          sec(t('rpt.byPriority'), counts(o.by_priority)),
          sec(t('rpt.byState'), counts(o.by_state, (k) => t(`wo.state.${k}`))),
          sec(t('rpt.overdueByLevel'), counts(o.overdue_by_level)),
          r.overdue_list.length ? sec(t('rpt.overdueList'), h('table', { class: 'tbl', id: 'rpt-overdue' }, [
            h('thead', h('tr', ['#', t('rpt.titleL'), t('rpt.unit'), t('rpt.priority'), t('rpt.level'), t('rpt.stateEnd')].map((x) => h('th', x)))),
            h('tbody', r.overdue_list.map((x) => h('tr', { 'data-order': x.id }, [h('td', h('a', { href: `#/workorders/${x.id}` }, `#${x.id}`)), h('td', x.title),
              h('td', x.kind === 'enterprise' ? entName(x.unit) : x.unit), h('td', x.priority), h('td', `L${x.level}`), h('td', t(`wo.state.${x.state}`))]))),
          ])) : null,
          sec(t('rpt.enterprises'), unitTable(r.enterprises, 'rpt-enterprises')),
          r.departments.length ? sec(t('rpt.departments'), unitTable(r.departments, 'rpt-departments')) : null,
          sec(t('rpt.hazards'), h('div', [
            h('h3', t('rpt.hzFound')), counts(r.hazards.found, (k) => t(`hz.g.${k}`)),
            h('h3', t('rpt.hzClosed')), counts(r.hazards.closed, (k) => t(`hz.g.${k}`)),
            h('h3', t('rpt.hzOverdue')), counts(r.hazards.overdue, (k) => t(`hz.g.${k}`)),
            h('h3', t('ls.title')), counts(r.hazards.listings_active, (k) => t(`ls.b.${k}`))])),
          sec(t('hz.riskMap'), counts(r.risk_points, (k) => t(`rpt.rp.${k}`))),
          sec(t('rpt.board'), h('table', { class: 'tbl', id: 'rpt-board' }, [
            h('thead', h('tr', [t('rpt.unit'), t('wo.colour.blue'), t('wo.colour.yellow'), t('wo.colour.red'), t('rpt.lastRank')].map((x) => h('th', x)))),
            h('tbody', r.board_history.map((b) => h('tr', [h('td', b.unit), h('td', String(b.blue_days)), h('td', String(b.yellow_days)), h('td', String(b.red_days)),
              h('td', `${b.last_rank} · ${t(`wo.colour.${b.last_colour}`)}`)]))),
          ])),
          h('p', { class: 'muted small' }, `${t('rpt.generated')} ${fmtTime(r.generated_at, true)}`),
        ]) : null,
      ]);
    };
  },
};
