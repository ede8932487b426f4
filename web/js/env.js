// 环境监测: HJ 212 stations — pollutants with real-time / minute / hour / day data, data flags,
// exceedances, and a missing-data view (hours without data per station over the last day).
import { h, ref, shallowRef, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, sse, seriesKey, fmtTime, fmtNum, quality, shortName, entName, describe, parseSeries, can } from './core.js';
import { Chart, panel, levelBadge, stateBadge, onlineBadge, axisStyle, tooltip, button } from './ui.js';
import { historyOption } from './point.js';
import { html } from './html.js';

const KINDS = [['rtd', '2011', 'hj212_rtd', 6 * 3600e3], ['min', '2051', 'hj212_avg', 86400e3], ['hour', '2061', 'hj212_avg', 7 * 86400e3], ['day', '2031', 'hj212_avg', 30 * 86400e3]];
const FLAG = { 0: 'N', 1: 'F', 2: 'M', 3: 'S', 4: 'D', 5: 'C', 6: 'T', 7: 'B' };

function variant(series, kind) {
  const k = KINDS.find((x) => x[0] === kind);
  return series.replace(/^hj212_\w+/, k[2]).replace(/cn="\d+"/, `cn="${k[1]}"`);
}

export default {
  name: 'EnvView',
  setup() {
    const stations = computed(() => model.devices.filter((d) => d.kind === 'env_station'));
    const sel = ref(stations.value[0]?.id || '');
    const kind = ref('rtd');
    const factor = ref('');
    const last = shallowRef(new Map());
    const hist = shallowRef({ ts: [], values: [], quality: [] });
    const exceed = shallowRef([]);
    const missing = shallowRef([]);
    const status = shallowRef(new Map());
    const tab = ref('data');

    const station = computed(() => model.dev.get(sel.value));
    const factors = computed(() => (station.value ? station.value.points : []));

    async function loadLast() {
      const s = station.value;
      if (!s) return;
      const qs = s.points.slice(0, 16).map((p) => `match[]=${encodeURIComponent(variant(p.series, kind.value))}`).join('&');
      try {
        const r = await api(`/api/v1/last?${qs}`);
        last.value = new Map(r.data.map((v) => [seriesKey(v.metric), v]));
      } catch { last.value = new Map(); }
    }
    async function loadHist() {
      const p = model.pt.get(factor.value);
      if (!p) { hist.value = { ts: [], values: [], quality: [] }; return; }
      const k = KINDS.find((x) => x[0] === kind.value);
      const end = Date.now(), start = end - k[3];
      const step = kind.value === 'rtd' ? 60 : 0;
      const qs = `match[]=${encodeURIComponent(variant(p.series, kind.value))}&start=${start / 1000}&end=${end / 1000}${step ? `&step=${step}&agg=avg` : ''}`;
      try {
        const r = await api(`/api/v1/read?${qs}`);
        const d = r.data[0];
        hist.value = d ? { ts: d.timestamps, values: d.values, quality: d.quality, step } : { ts: [], values: [], quality: [] };
      } catch { hist.value = { ts: [], values: [], quality: [] }; }
    }
    async function loadExceed() {
      try { exceed.value = await api('/api/v1/alarms?rule=exceed&limit=200'); } catch { exceed.value = []; }
    }
    async function loadMissing() {
      const end = Math.floor(Date.now() / 3600e3) * 3600e3, start = end - 24 * 3600e3; // complete hours only
      const rows = [];
      await Promise.all(stations.value.map(async (s) => {
        const mn = s.hj212?.mn || parseSeries(s.points[0]?.series || '').mn;
        const counts = new Array(24).fill(0);
        if (mn) {
          try {
            const r = await api(`/api/v1/read?match[]=${encodeURIComponent(`hj212_rtd{mn="${mn}"}`)}&start=${start / 1000}&end=${end / 1000}&step=3600&agg=count`);
            for (const d of r.data) d.timestamps.forEach((ts, i) => {
              const hI = Math.floor((ts - start) / 3600e3);
              if (hI >= 0 && hI < 24) counts[hI] = Math.max(counts[hI], d.values[i] || 0);
            });
          } catch { /* none */ }
        }
        // "complete" relative to the station's own usual count per hour (its median)
        const nz = counts.filter((c) => c > 0).sort((a, b) => a - b);
        const med = nz.length ? nz[Math.floor(nz.length / 2)] : 0;
        const grade = counts.map((c) => (!c ? 0 : c < 0.8 * med ? 1 : 2));
        rows.push({ id: s.id, name: s.name, counts, grade, missing: counts.filter((c) => !c).length });
      }));
      rows.sort((a, b) => stations.value.indexOf(model.dev.get(a.id)) - stations.value.indexOf(model.dev.get(b.id)));
      missing.value = { start, rows };
    }
    async function loadStatus() {
      try { status.value = new Map((await api('/api/v1/ui/device-status')).devices.map((d) => [d.id, d])); } catch { /* keep */ }
    }
    const onValues = (vals) => {
      if (kind.value !== 'rtd') return;
      const m = new Map(last.value);
      let any = false;
      for (const v of vals) { const k = seriesKey(v.metric); if (m.has(k) || model.ptBySeries.get(k)?.device === sel.value) { m.set(k, v); any = true; } }
      if (any) last.value = m;
    };
    onMounted(() => {
      sse.setValues('hj212_rtd');
      sse.valueListeners.add(onValues);
      factor.value = factors.value[0]?.id || '';
      loadLast(); loadHist(); loadExceed(); loadMissing(); loadStatus();
    });
    onBeforeUnmount(() => sse.valueListeners.delete(onValues));
    watch(sel, () => { factor.value = factors.value[0]?.id || ''; loadLast(); loadHist(); });
    watch([kind, factor], () => { loadLast(); loadHist(); });

    const missingOpt = computed(() => {
      void lang.value;
      const m = missing.value;
      if (!m.rows) return null;
      const data = [];
      m.rows.forEach((r, y) => r.counts.forEach((c, x) => data.push([x, y, r.grade[x], c])));
      return {
        grid: { left: 200, right: 20, top: 10, bottom: 50 },
        tooltip: { formatter: (p) => html`${m.rows[p.value[1]].name}<br>${fmtTime(m.start + p.value[0] * 3600e3, true)}: ${p.value[3]} ${t('samples')}` },
        xAxis: { type: 'category', data: m.rows[0]?.counts.map((_, i) => new Date(m.start + i * 3600e3).getHours() + ':00'), ...axisStyle, splitArea: { show: false } },
        yAxis: { type: 'category', data: m.rows.map((r) => shortName(r.name)), ...axisStyle, axisLabel: { color: '#8fb0d3', width: 180, overflow: 'truncate' } },
        visualMap: { type: 'piecewise', orient: 'horizontal', bottom: 0, left: 'center', textStyle: { color: '#8fb0d3' },
          dimension: 2, pieces: [{ value: 0, color: '#a3283a', label: t('missing') }, { value: 1, color: '#a07a14', label: t('partial') }, { value: 2, color: '#1f7a4d', label: t('complete') }] },
        series: [{ type: 'heatmap', data, itemStyle: { borderColor: '#0b1a2b', borderWidth: 1 } }],
      };
    });

    return () => {
      void lang.value;
      const s = station.value;
      const p = model.pt.get(factor.value);
      return h('div', { class: 'page env-page', id: 'env-page' }, [
        h('div', { class: 'page-h' }, [h('h1', t('nav.env')), h('div', { class: 'tabs' }, [['data', t('envData')], ['exceed', `${t('exceedances')} (${exceed.value.length})`], ['missing', t('missingData')]].map(([k, l]) =>
          h('button', { type: 'button', class: ['tab', tab.value === k ? 'on' : ''], 'data-tab': k, onClick: () => { tab.value = k; } }, l)))]),
        tab.value === 'data' ? h('div', { class: 'grid-1-3' }, [
          panel(`${t('stations')} (${stations.value.length})`, h('ul', { class: 'station-list', id: 'stations' }, stations.value.map((d) => {
            const st = status.value.get(d.id);
            return h('li', { class: d.id === sel.value ? 'on' : '', onClick: () => { sel.value = d.id; } }, [
              h('div', d.name), h('div', { class: 'muted small' }, [shortName(entName(d.enterprise)), ' · ', st ? onlineBadge(st.online, st.last_seen == null) : '—']),
            ]);
          }))),
          h('div', [
            s ? panel(`${s.name} · MN ${s.hj212?.mn || '—'}`, [
              h('div', { class: 'tabs' }, KINDS.map(([k]) => h('button', { type: 'button', class: ['tab', kind.value === k ? 'on' : ''], 'data-kind': k, onClick: () => { kind.value = k; } }, t(`dataKind.${k}`)))),
              h('table', { class: 'tbl', id: 'factors' }, [
                h('thead', h('tr', [h('th', t('pollutant')), h('th', t('code')), h('th', t('value')), h('th', t('limit')), h('th', t('flag')), h('th', t('time')), can.park() ? h('th', t('receipt')) : null])),
                h('tbody', factors.value.map((f) => {
                  const v = last.value.get(seriesKey(parseSeries(variant(f.series, kind.value))));
                  const lim = f.setpoints?.limit;
                  const over = v && lim != null && v.value > lim;
                  return h('tr', { class: [f.id === factor.value ? 'sel' : '', over ? 'over' : ''], onClick: () => { factor.value = f.id; } }, [
                    h('td', f.name), h('td', parseSeries(f.series).code || ''), h('td', { class: over ? 'q-bad' : '' }, v ? `${fmtNum(v.value)} ${f.unit || ''}` : '—'),
                    h('td', lim != null ? `${lim}` : '—'), h('td', v ? h('span', { class: v.quality ? 'q-bad' : 'q-good', title: quality(v.quality) }, `${FLAG[v.quality] || v.quality} · ${quality(v.quality)}`) : '—'),
                    h('td', v ? fmtTime(v.ts, true) : '—'),
                    can.park() ? h('td', v ? h('a', { class: 'receipt', title: t('receiptTitle'), download: '', onClick: (e) => e.stopPropagation(),
                      href: `/api/v1/archive/proof?match[]=${encodeURIComponent(variant(f.series, kind.value))}&ts=${v.ts / 1000}` }, t('receipt')) : '—') : null,
                  ]);
                })),
              ]),
            ]) : null,
            p ? panel(`${p.name} · ${t(`dataKind.${kind.value}`)}`, h(Chart, { option: historyOption(p, hist.value, KINDS.find((x) => x[0] === kind.value)[3]), cls: 'h-env' })) : null,
          ]),
        ]) : null,
        tab.value === 'exceed' ? panel(t('exceedances'), h('table', { class: 'tbl', id: 'exceed' }, [
          h('thead', h('tr', [h('th', t('levelLabel')), h('th', t('stateLabel')), h('th', t('startedAt')), h('th', t('station')), h('th', t('description'))])),
          h('tbody', exceed.value.length ? exceed.value.map((a) => h('tr', { key: a.id }, [h('td', levelBadge(a.level)), h('td', stateBadge(a.state)), h('td', fmtTime(a.started_at, true)),
            h('td', model.dev.get(a.device)?.name || a.device), h('td', h('a', { href: `#/alarms?id=${a.id}&state=` }, describe(a).text))])) : [h('tr', h('td', { colspan: 5, class: 'muted' }, t('noExceed')))]),
        ])) : null,
        tab.value === 'missing' ? panel(t('missingData24h'), [h(Chart, { option: missingOpt.value, cls: 'h-missing' }),
          h('table', { class: 'tbl compact', id: 'missing' }, h('tbody', (missing.value.rows || []).map((r) => h('tr', [h('td', r.name), h('td', { class: r.missing ? 'q-bad' : 'q-good' }, `${t('missingHours')}: ${r.missing}/24`)]))))]) : null,
      ]);
    };
  },
};
