// 点位详情 / 设备详情: live value, history chart (server-side downsampling, zoom, range choice),
// setpoints drawn on the chart, quality codes, device status and last-seen.
import { h, ref, shallowRef, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, sse, openAlarms, lastValues, keyOf, seriesKey, fmtTime, fmtNum, fmtAgo, quality, entName, describe, navigate, can } from './core.js';
import { Chart, panel, kv, levelBadge, stateBadge, onlineBadge, axisStyle, tooltip, button } from './ui.js';
import { html } from './html.js';

export const RANGES = [['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 86400e3], ['7d', 7 * 86400e3], ['30d', 30 * 86400e3]];
const SP_STYLE = {
  alarm1: ['#ff8c1a', 'sp.alarm1'], alarm2: ['#ff3b3b', 'sp.alarm2'], hi: ['#f5d90a', 'sp.hi'], hihi: ['#ff8c1a', 'sp.hihi'],
  lo: ['#f5d90a', 'sp.lo'], lolo: ['#ff8c1a', 'sp.lolo'], limit: ['#ff3b3b', 'sp.limit'],
};

// Reads one series over [start, end] with about `buckets` points (raw when the range is short).
export async function readSeries(series, start, end, buckets = 720) {
  const span = end - start;
  const step = span <= 3600e3 ? 0 : Math.max(1, Math.round(span / buckets / 1000));
  const qs = `match[]=${encodeURIComponent(series)}&start=${start / 1000}&end=${end / 1000}${step ? `&step=${step}&agg=avg` : ''}`;
  const r = await api(`/api/v1/read?${qs}`);
  const d = r.data[0];
  return { step, ts: d ? d.timestamps : [], values: d ? d.values : [], quality: d ? d.quality : [] };
}

export function historyOption(p, data, range) {
  const sp = p.setpoints || {};
  const x0 = Date.now() - range, x1 = Date.now();
  const marks = Object.entries(sp).filter(([k]) => SP_STYLE[k]).map(([k, v]) => [
    { coord: [x0, v], lineStyle: { color: SP_STYLE[k][0], type: 'dashed', width: 1.2 },
      label: { formatter: `${t(SP_STYLE[k][1])} ${v}`, color: SP_STYLE[k][0], position: 'insideEndTop' } },
    { coord: [x1, v] }]);
  const good = data.ts.map((ts, i) => [ts, data.values[i]]);
  const bad = data.ts.map((ts, i) => (data.quality[i] ? [ts, data.values[i], data.quality[i]] : null)).filter(Boolean);
  return {
    animation: false,
    grid: { left: 60, right: 30, top: 40, bottom: 70 },
    tooltip: { ...tooltip, valueFormatter: (v) => `${fmtNum(v)} ${p.unit || ''}` },
    legend: { top: 4, textStyle: { color: '#8fb0d3' } },
    xAxis: { type: 'time', ...axisStyle, min: x0, max: x1 },
    yAxis: { type: 'value', name: p.unit || '', nameTextStyle: { color: '#8fb0d3' }, ...axisStyle, scale: true,
      max: (v) => Math.max(v.max, ...marks.map((m) => m[0].coord[1] * 1.05)) },
    dataZoom: [{ type: 'inside' }, { type: 'slider', height: 22, bottom: 18, textStyle: { color: '#8fb0d3' }, borderColor: '#2b5a8a' }],
    series: [
      { name: p.name, type: 'line', showSymbol: good.length < 60, data: good, lineStyle: { width: 1.6, color: '#2fa8ff' }, itemStyle: { color: '#2fa8ff' },
        areaStyle: { color: 'rgba(47,168,255,0.08)' }, markLine: marks.length ? { silent: true, symbol: 'none', data: marks } : undefined },
      { name: t('badQuality'), type: 'scatter', data: bad, symbolSize: 7, itemStyle: { color: '#ff5a5a' },
        tooltip: { trigger: 'item', formatter: (x) => html`${fmtTime(x.value[0], true)}<br>${fmtNum(x.value[1])} · ${quality(x.value[2])}` } },
    ],
  };
}

// 下载存证: the archive can trace a stored HJ 212 value to the frame that carried it
// (GET /api/v1/archive/proof, admin and supervisor; the regulator role has no UI session).
export const RECEIPT_ROWS = 20;
export function receiptHref(series, ts) {
  return `/api/v1/archive/proof?match[]=${encodeURIComponent(series)}&ts=${ts / 1000}`;
}
export function receiptLink(series, ts) {
  return h('a', { class: 'receipt', title: t('receiptTitle'), download: '', href: receiptHref(series, ts), onClick: (e) => e.stopPropagation() }, t('receipt'));
}
const traceable = (p) => !!(p && p.series && /^hj212_/.test(p.series) && can.park());

export default {
  name: 'PointView',
  props: { id: String, device: Boolean },
  setup(props) {
    const range = ref(RANGES[1][1]);
    const data = shallowRef({ ts: [], values: [], quality: [] });
    const pointId = ref('');
    const live = ref(null);
    const devStatus = ref(null);
    const err = ref('');
    const loading = ref(false);
    const picked = ref(null); // {ts, value} of the stored sample clicked on the chart

    const dev = computed(() => {
      if (props.device) return model.dev.get(props.id);
      const p = model.pt.get(props.id);
      return p ? model.dev.get(p.device) : null;
    });
    const point = computed(() => model.pt.get(pointId.value) || null);

    async function load() {
      err.value = '';
      if (!dev.value) { err.value = t('notFound'); return; }
      if (!props.device) pointId.value = props.id;
      else if (!pointId.value || model.pt.get(pointId.value)?.device !== props.id) pointId.value = dev.value.points[0]?.id || '';
      const p = point.value;
      if (p && p.series) {
        sse.setValues(p.series);
        loading.value = true;
        try {
          const end = Date.now();
          data.value = await readSeries(p.series, end - range.value, end);
          const l = await api(`/api/v1/last?match[]=${encodeURIComponent(p.series)}`);
          live.value = l.data[0] || null;
        } catch (e) { err.value = e.message; }
        loading.value = false;
      }
      try {
        const st = await api('/api/v1/ui/device-status');
        devStatus.value = st.devices.find((d) => d.id === dev.value.id) || null;
      } catch { /* keep */ }
    }
    const onValues = (vals) => {
      const p = point.value;
      if (!p) return;
      for (const v of vals) {
        if (seriesKey(v.metric) !== p.key) continue;
        live.value = v;
        const d = data.value;
        if (!d.ts.length || v.ts > d.ts[d.ts.length - 1]) data.value = { ...d, ts: [...d.ts, v.ts], values: [...d.values, v.value], quality: [...d.quality, v.quality] };
      }
    };
    onMounted(() => { sse.valueListeners.add(onValues); load(); });
    onBeforeUnmount(() => sse.valueListeners.delete(onValues));
    watch(() => [props.id, range.value], load);
    watch(pointId, (n, o) => { if (o && n !== o) load(); });
    watch(() => [props.id, range.value, pointId.value], () => { picked.value = null; });
    // a click on a stored sample (raw data only: a downsampled bucket is no stored value)
    const chartEvents = { click: (e) => {
      if (data.value.step || !Array.isArray(e.value) || e.seriesIndex > 1) return;
      picked.value = { ts: e.value[0], value: e.value[1] };
    } };

    const option = computed(() => { void lang.value; return point.value ? historyOption(point.value, data.value, range.value) : null; });

    function receiptsPanel(p) {
      const d = data.value;
      if (d.step) return panel(t('receipt'), h('p', { class: 'muted', id: 'receipt-raw-hint' }, t('rcpt.raw')));
      const rows = [];
      for (let i = d.ts.length - 1; i >= 0 && rows.length < RECEIPT_ROWS; i--) rows.push(i);
      const sel = picked.value;
      return panel(t('rcpt.stored').replace('{n}', RECEIPT_ROWS), [
        h('p', { class: 'muted small', id: 'receipt-picked' }, sel ? [t('rcpt.selected'), ': ', fmtTime(sel.ts, true), ' · ', `${fmtNum(sel.value, 4)} ${p.unit || ''} `,
          receiptLink(p.series, sel.ts)] : t('rcpt.pick')),
        rows.length ? h('table', { class: 'tbl compact', id: 'stored-values' }, [
          h('thead', h('tr', [h('th', t('time')), h('th', t('value')), h('th', t('quality')), h('th', t('receipt'))])),
          h('tbody', rows.map((i) => h('tr', { key: d.ts[i], 'data-ts': d.ts[i] }, [
            h('td', fmtTime(d.ts[i], true)), h('td', `${fmtNum(d.values[i], 4)} ${p.unit || ''}`),
            h('td', { class: d.quality[i] ? 'q-bad' : 'q-good' }, quality(d.quality[i] || 0)), h('td', receiptLink(p.series, d.ts[i])),
          ]))),
        ]) : h('p', { class: 'muted' }, t('rcpt.none')),
      ]);
    }

    return () => {
      void lang.value; void state.alarmsVersion;
      const d = dev.value;
      if (!d) return h('div', { class: 'page' }, h('div', { class: 'empty-page', id: 'not-found' }, err.value || t('notFound')));
      const p = point.value;
      const alarms = [...openAlarms.value.values()].filter((a) => a.device === d.id);
      const q = live.value ? live.value.quality : null;
      return h('div', { class: 'page point-page', id: 'point-page' }, [
        h('div', { class: 'page-h' }, [
          h('h1', p ? `${d.name} · ${p.name}` : d.name),
          h('a', { href: `#/enterprise/${d.enterprise || ''}`, class: 'muted' }, entName(d.enterprise)),
        ]),
        h('div', { class: 'grid-2-1' }, [
          h('div', [
            h('div', { class: 'live-row' }, [
              h('div', { class: 'live-big', id: 'live-value' }, [
                h('b', live.value ? fmtNum(live.value.value, 4) : '—'), h('span', p?.unit || ''),
              ]),
              h('div', { class: 'live-meta' }, [
                h('div', [t('sampledAt'), ': ', live.value ? fmtTime(live.value.ts, true) : '—']),
                h('div', [t('quality'), ': ', h('span', { class: q ? 'q-bad' : 'q-good', id: 'live-quality' }, q == null ? '—' : `${quality(q)} (${q})`)]),
                h('div', [t('series'), ': ', h('code', p?.series || '—')]),
              ]),
            ]),
            d.points.length > 1 ? h('div', { class: 'tabs' }, d.points.map((x) => h('button', { type: 'button', class: ['tab', x.id === pointId.value ? 'on' : ''], onClick: () => { pointId.value = x.id; } }, x.name))) : null,
            panel(t('history'), [
              h('div', { class: 'tabs', id: 'ranges' }, RANGES.map(([k, v]) => h('button', { type: 'button', class: ['tab', range.value === v ? 'on' : ''], 'data-range': k, onClick: () => { range.value = v; } }, t(`range.${k}`)))),
              h(Chart, { option: option.value, cls: 'h-history', id: 'history-chart', onEvents: chartEvents }),
              h('p', { class: 'muted small' }, data.value.step ? t('downsampled').replace('{s}', data.value.step) : t('rawSamples').replace('{n}', data.value.ts.length)),
            ]),
            traceable(p) ? receiptsPanel(p) : null,
          ]),
          h('div', [
            panel(t('device'), kv([
              [t('id'), d.id], [t('kindLabel'), t(`kind.${d.kind}`)], [t('protocol'), d.protocol || '—'],
              [t('area'), model.area.get(d.area)?.name || d.area || '—'],
              [t('status'), devStatus.value ? onlineBadge(devStatus.value.online, devStatus.value.last_seen == null) : '—'],
              [t('lastSeen'), devStatus.value?.last_seen ? `${fmtTime(devStatus.value.last_seen, true)} (${fmtAgo(devStatus.value.last_seen)})` : t('never')],
              [t('location'), d.location ? d.location.map((x) => x.toFixed(5)).join(', ') : '—'],
            ])),
            p ? panel(t('setpoints'), kv([[t('rangeLabel'), p.range ? `${p.range[0]} – ${p.range[1]} ${p.unit || ''}` : '—'],
              ...Object.entries(p.setpoints || {}).map(([k, v]) => [t(`sp.${k}`), `${v} ${k === 'deadband' ? '' : p.unit || ''}`])])) : null,
            panel(t('openAlarms'), alarms.length ? h('ul', { class: 'plain' }, alarms.map((a) => h('li', [levelBadge(a.level), ' ', stateBadge(a.state), ' ',
              h('a', { href: `#/alarms?id=${a.id}&state=active,acknowledged` }, describe(a).text)]))) : h('p', { class: 'muted' }, t('noOpenAlarms'))),
            panel(t('qualityCodes'), h('table', { class: 'tbl compact' }, h('tbody', [0, 1, 2, 3, 4, 5, 6, 7, 16, 32, 33, 34].map((c) => h('tr', [h('td', c), h('td', quality(c))]))))),
          ]),
        ]),
      ]);
    };
  },
};
