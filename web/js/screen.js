// 大屏: the control room's big screen (1920×1080, usable on a laptop). The park map coloured by
// each enterprise's worst open alarm, devices online by kind, open alarms by level, today's
// figures, a live alarm ticker, environmental trends and hazmat vehicles. Live without reload:
// alarms from the event stream, values from its `values` stream, the rest polled.
import { h, ref, shallowRef, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, openAlarms, ticker, sse, worstBy, levelNum, describe, fmtTime, fmtNum,
  shortName, entName, navigate, seriesKey, LEVEL_COLOR } from './core.js';
import { Chart, panel, axisStyle, tooltip } from './ui.js';
import { mapOption, regionEnterprise, permitsLayer } from './map.js';
import { useOpenIncidents } from './incidents.js';
import { useActivePermits } from './permits.js';

export const TREND_QUANTITIES = ['so2', 'nox', 'pm25', 'vocs'];
const TREND_HOURS = 6;

export function useDeviceStatus() {
  const status = shallowRef(null);
  const load = async () => { try { status.value = await api('/api/v1/ui/device-status'); } catch { /* keep */ } };
  return { status, load };
}

// Devices by kind: online / offline / no data yet (devices with points only).
export function kindCounts(status) {
  const by = new Map();
  if (!status) return by;
  for (const d of status.devices) {
    const dev = model.dev.get(d.id);
    const k = dev ? dev.kind : 'other';
    const c = by.get(k) || { online: 0, offline: 0, never: 0 };
    if (d.online) c.online++; else if (d.last_seen == null) c.never++; else c.offline++;
    by.set(k, c);
  }
  return by;
}

export default {
  name: 'ScreenView',
  setup() {
    const { status, load: loadStatus } = useDeviceStatus();
    const today = ref(null);
    const occupancy = ref(null);
    const vehicles = shallowRef([]);
    const trends = shallowRef({});   // quantity → {series:[{key,name,data:[[ts,v]]}], unit}
    const latest = ref({});          // quantity → {value, unit, station}
    const clock = ref(Date.now());
    const flashing = ref(false);
    let timers = [];

    const loadToday = async () => {
      try { today.value = await api('/api/v1/ui/today'); } catch { /* keep */ }
      try { occupancy.value = await api('/api/v1/gates/occupancy'); } catch { /* keep */ }
    };
    const loadVehicles = async () => {
      try { vehicles.value = await api('/api/v1/vehicles/live'); } catch { /* keep */ }
    };

    async function loadTrends() {
      const out = {};
      const end = Date.now(), start = end - TREND_HOURS * 3600e3;
      await Promise.all(TREND_QUANTITIES.map(async (q) => {
        const pts = model.points.filter((p) => p.quantity === q && /^hj212_rtd/.test(p.series || '')).slice(0, 4);
        const series = [];
        if (pts.length) {
          const qs = pts.map((p) => `match[]=${encodeURIComponent(p.series)}`).join('&');
          try {
            const r = await api(`/api/v1/read?${qs}&start=${start / 1000}&end=${end / 1000}&step=300&agg=avg`);
            for (const p of pts) {
              const key = model.pt.get(p.id).key;
              const d = r.data.find((x) => seriesKey(x.metric) === key);
              series.push({ key, name: shortName(model.dev.get(p.device)?.name || p.device),
                data: d ? d.timestamps.map((ts, i) => [ts, d.values[i]]) : [] });
            }
          } catch { /* no data */ }
        }
        out[q] = { series, unit: pts[0]?.unit || '', limit: pts[0]?.setpoints?.limit };
        for (const s of series) {
          const last = s.data[s.data.length - 1];
          if (last && (!latest.value[q] || last[0] >= latest.value[q].ts)) {
            latest.value = { ...latest.value, [q]: { value: last[1], ts: last[0], unit: out[q].unit, station: s.name } };
          }
        }
      }));
      trends.value = out;
    }

    // live values: append to the trend of their series
    const onValues = (vals) => {
      let changed = false;
      const tr = trends.value;
      for (const v of vals) {
        const key = seriesKey(v.metric);
        const p = model.ptBySeries.get(key);
        if (!p || !TREND_QUANTITIES.includes(p.quantity) || !tr[p.quantity]) continue;
        const s = tr[p.quantity].series.find((x) => x.key === key);
        if (!s) continue;
        s.data = [...s.data.filter((d) => d[0] >= Date.now() - TREND_HOURS * 3600e3), [v.ts, v.value]];
        latest.value = { ...latest.value, [p.quantity]: { value: v.value, ts: v.ts, unit: p.unit, station: s.name } };
        changed = true;
      }
      if (changed) trends.value = { ...tr };
    };

    // The values stream covers the series that existed when it connected; poll the last values
    // of the trend series as well so that a station that starts reporting later appears too.
    async function pollTrends() {
      const keys = Object.values(trends.value).flatMap((tr) => tr.series.map((s) => s.key));
      if (!keys.length) return;
      const qs = keys.map((k) => `match[]=${encodeURIComponent(k)}`).join('&');
      try {
        const r = await api(`/api/v1/last?${qs}`);
        onValues(r.data.filter((v) => {
          const s = Object.values(trends.value).flatMap((tr) => tr.series).find((x) => x.key === seriesKey(v.metric));
          return s && (!s.data.length || v.ts > s.data[s.data.length - 1][0]);
        }));
      } catch { /* keep */ }
    }

    let todayTimer = 0;
    const onAlarm = () => { clearTimeout(todayTimer); todayTimer = setTimeout(loadToday, 1000); };

    // the red-yellow-blue board (public: unit, colour, rank, change)
    const board = shallowRef([]);
    const loadBoard = async () => { try { board.value = (await api('/api/v1/board?public=1')).units || []; } catch { /* keep */ } };
    onMounted(() => { loadBoard(); sse.woListeners.add(loadBoard); });
    onBeforeUnmount(() => { sse.woListeners.delete(loadBoard); });
    // open incidents (zones, source, wind) and active permits on the map, live from their events
    const incidents = useOpenIncidents();
    const permits = useActivePermits();
    let layerTimer = 0;
    onMounted(() => { incidents.start(); permits.start(); layerTimer = setInterval(() => { incidents.load(); permits.load(); }, 30000); });
    onBeforeUnmount(() => { clearInterval(layerTimer); incidents.stop(); permits.stop(); });
    onMounted(() => {
      sse.setValues('hj212_rtd');
      sse.valueListeners.add(onValues);
      sse.listeners.add(onAlarm);
      loadStatus(); loadToday(); loadVehicles(); loadTrends();
      timers = [setInterval(loadStatus, 30000), setInterval(loadToday, 30000), setInterval(loadBoard, 30000),
        setInterval(loadVehicles, 5000), setInterval(pollTrends, 5000), setInterval(() => { clock.value = Date.now(); }, 1000)];
    });
    onBeforeUnmount(() => {
      timers.forEach(clearInterval);
      sse.valueListeners.delete(onValues);
      sse.listeners.delete(onAlarm);
    });
    watch(() => state.flash, () => { flashing.value = true; setTimeout(() => { flashing.value = false; }, 6000); });

    const levelCounts = computed(() => {
      void state.alarmsVersion;
      const c = { red: 0, orange: 0, yellow: 0, blue: 0 };
      for (const a of openAlarms.value.values()) if (a.state === 'active' || a.state === 'acknowledged') c[a.level]++;
      return c;
    });

    const mapOpt = computed(() => {
      void state.alarmsVersion; void lang.value;
      const alarmed = new Set();
      for (const v of vehicles.value) if (v.alarms && v.alarms.length) alarmed.add(v.id);
      const vs = vehicles.value.filter((v) => v.lat != null && v.lon != null)
        .map((v) => ({ id: v.id, plate: v.plate, lon: v.lon, lat: v.lat, speed: v.speed_kmh, hazmat: v.hazmat, alarm: alarmed.has(v.id) }));
      return mapOption({ worst: worstBy('enterprise'), vehicles: vs, vehicleLabels: false,
        layers: [...permitsLayer(permits.list.value), ...incidents.layers()] });
    });

    const devOpt = computed(() => {
      void lang.value;
      const by = kindCounts(status.value);
      const kinds = [...by.keys()].sort((a, b) => (by.get(b).online + by.get(b).offline + by.get(b).never) - (by.get(a).online + by.get(a).offline + by.get(a).never));
      const mk = (name, field, color) => ({ name, type: 'bar', stack: 'a', barWidth: 14, itemStyle: { color },
        data: kinds.map((k) => by.get(k)[field]), label: { show: false } });
      return {
        grid: { left: 90, right: 16, top: 26, bottom: 20 },
        legend: { top: 0, right: 0, textStyle: { color: '#8fb0d3' }, itemWidth: 10, itemHeight: 10 },
        tooltip: { ...tooltip, axisPointer: { type: 'shadow' } },
        xAxis: { type: 'value', ...axisStyle, minInterval: 1 },
        yAxis: { type: 'category', data: kinds.map((k) => t(`kind.${k}`)), ...axisStyle, inverse: true },
        series: [mk(t('online'), 'online', '#2fd08a'), mk(t('offline'), 'offline', '#ff5a5a'), mk(t('noDataYet'), 'never', '#51657d')],
      };
    });

    const trendOpt = (q) => {
      const tr = trends.value[q];
      if (!tr) return null;
      const colors = ['#2fa8ff', '#2fd08a', '#ffb020', '#d36cff'];
      return {
        animation: false,
        color: colors,
        grid: { left: 40, right: 8, top: 10, bottom: 22 },
        tooltip: { ...tooltip, valueFormatter: (v) => `${fmtNum(v)} ${tr.unit}` },
        legend: { show: false },
        xAxis: { type: 'time', ...axisStyle, splitLine: { show: false }, axisLabel: { color: '#8fb0d3', fontSize: 10, hideOverlap: true } },
        yAxis: { type: 'value', ...axisStyle, axisLabel: { color: '#8fb0d3', fontSize: 10 }, scale: true },
        series: tr.series.map((s, i) => ({
          name: s.name, type: 'line', showSymbol: false, smooth: true, data: s.data, lineStyle: { width: 1.5 },
          markLine: i === 0 && tr.limit != null ? { silent: true, symbol: 'none', lineStyle: { color: '#ff5a5a', type: 'dashed' },
            data: [{ yAxis: tr.limit }], label: { color: '#ff8080', formatter: `${t('limit')} ${tr.limit}`, fontSize: 10 } } : undefined,
        })),
      };
    };

    const tick = computed(() => {
      void state.alarmsVersion; void lang.value;
      const evs = ticker.value;
      if (evs.length >= 12) return evs.slice(0, 12).map((e) => ({ ...e.alarm, _event: e.event, _at: e.at }));
      const seen = new Set(evs.map((e) => e.alarm.id));
      const rest = [...openAlarms.value.values()].filter((a) => !seen.has(a.id))
        .sort((a, b) => levelNum(b.level) - levelNum(a.level) || Date.parse(b.updated_at) - Date.parse(a.updated_at));
      return [...evs.map((e) => ({ ...e.alarm, _event: e.event, _at: e.at })), ...rest].slice(0, 12);
    });

    const fig = (label, value, cls) => h('div', { class: ['fig', cls] }, [h('b', value ?? '—'), h('span', label)]);

    return () => {
      const c = levelCounts.value;
      const td = today.value || {};
      const inPark = vehicles.value.filter((v) => v.in_park);
      const hazIn = inPark.filter((v) => v.hazmat);
      const vAlarms = vehicles.value.reduce((n, v) => n + (v.alarms ? v.alarms.length : 0), 0);
      const parkName = lang.value === 'en' && model.park.name_en ? model.park.name_en : model.park.name;
      return h('div', { class: ['screen', flashing.value ? 'flash' : ''], id: 'screen' }, [
        h('div', { class: 'screen-title' }, [
          h('div', { class: 'st-left' }, t('screenSubtitle')),
          h('h1', { id: 'park-name' }, `${parkName} · ${t('screenTitle')}`),
          h('div', { class: 'st-right' }, fmtTime(clock.value, true)),
        ]),
        h('div', { class: 'screen-grid' }, [
          h('div', { class: 'col' }, [
            panel(t('todayFigures'), h('div', { class: 'figs', id: 'today' }, [
              fig(t('entries'), td.entries), fig(t('exits'), td.exits),
              fig(t('alarmsRaised'), td.alarms_raised, 'warn'), fig(t('alarmsClosed'), td.alarms_closed, 'ok'),
              fig(t('peopleInside'), occupancy.value?.people), fig(t('hazmatInside'), hazIn.length, 'warn'),
            ])),
            panel(t('openByLevel'), h('div', { class: 'levels', id: 'level-counts' },
              ['red', 'orange', 'yellow', 'blue'].map((l) => h('a', { class: ['lvtile', `lv-${l}`], href: `#/alarms?level=${l}`, 'data-level': l }, [
                h('b', String(c[l])), h('span', t(`level.${l}`))])))),
            panel(t('wo.boardTitle'), h('div', { class: 'screen-board', id: 'screen-board' }, board.value.slice(0, 8).map((u) =>
              h('a', { class: ['sb-row', `board-${u.colour}`], href: '#/board', 'data-unit': u.unit }, [
                h('b', String(u.rank)), h('span', { class: 'ell' }, u.name || u.unit), h('span', t(`wo.colour.${u.colour}`)),
                h('span', u.rank_change > 0 ? `▲${u.rank_change}` : u.rank_change < 0 ? `▼${-u.rank_change}` : '—')])))),
            panel(t('devicesByKind'), h(Chart, { option: devOpt.value, cls: 'h-dev' }), null, 'grow'),
          ]),
          h('div', { class: 'col col-mid' }, [
            panel(t('parkMap'), [
              h(Chart, { option: mapOpt.value, cls: 'h-map', merge: false,
                onEvents: { click: (p) => {
                  if (p.componentType === 'series' && /^permits/.test(p.seriesName || '') && p.data?.id) { navigate(`#/permits/${encodeURIComponent(p.data.id)}`); return; }
                  const e = p.componentType === 'geo' ? regionEnterprise(p.name) : ''; if (e) navigate(`#/enterprise/${e}`);
                } } }),
              incidents.open.value.length ? h('div', { class: 'screen-inc', id: 'screen-incidents' }, incidents.open.value.map((i) =>
                h('a', { href: `#/incidents/${encodeURIComponent(i.id)}`, 'data-id': i.id, 'data-zones': String((i.zones || []).filter((z) => z.polygon).length) },
                  `⚠ ${t('inc.onScreen')} ${i.id} · ${i.chemical} · ${Array.isArray(i.impacts) ? i.impacts.length : 0} ${t('inc.impactUnit')}`))) : null,
              h('div', { class: 'screen-permits', id: 'screen-permits', 'data-active': String(permits.list.value.length),
                'data-special': String(permits.list.value.filter((p) => p.type === 'hot_work' && p.grade === 'special').length),
                'data-red': String(permits.list.value.filter((p) => p.worst === 'red').length) },
              permits.list.value.length ? `${t('pt.active')}: ${permits.list.value.length}` : ''),
              h('div', { class: 'map-legend' }, ['red', 'orange', 'yellow', 'blue', 'none'].map((l) =>
                h('span', [h('i', { style: { background: LEVEL_COLOR[l] } }), t(`level.${l}`)]))),
            ], null, 'grow'),
            panel(t('alarmTicker'), h('ul', { class: ['ticker', flashing.value ? 'flash' : ''], id: 'ticker' }, tick.value.length ? tick.value.map((a) => {
              const d = describe(a);
              return h('li', { key: `${a.id}-${a._at || ''}`, class: `lv-b-${a.level}`, 'data-alarm-id': a.id, onClick: () => navigate(`#/alarms?id=${a.id}`) }, [
                h('span', { class: 'tk-time' }, fmtTime(a._at || a.updated_at)),
                h('span', { class: ['lv', `lv-${a.level}`] }, t(`level.${a.level}`)),
                h('span', { class: 'tk-ent' }, shortName(entName(a.enterprise))),
                h('span', { class: 'tk-what' }, `${d.what} · ${d.text}`),
                h('span', { class: ['st', `st-${a.state}`] }, t(`state.${a.state}`)),
              ]);
            }) : [h('li', { class: 'muted' }, t('noOpenAlarms'))])),
          ]),
          h('div', { class: 'col' }, [
            panel(t('envTrends'), h('div', { class: 'trends' }, TREND_QUANTITIES.map((q) => h('div', { class: 'trend', 'data-q': q }, [
              h('div', { class: 'trend-h' }, [h('b', t(`qty.${q}`)), h('span', { class: 'trend-v' },
                latest.value[q] ? `${fmtNum(latest.value[q].value)} ${latest.value[q].unit}` : '—')]),
              h(Chart, { option: trendOpt(q), cls: 'h-trend' }),
            ])))),
            panel(`${t('hazmatVehicles')} (${hazIn.length}/${vehicles.value.filter((v) => v.hazmat).length})`,
              h('table', { class: 'tbl compact', id: 'screen-vehicles' }, [
                h('thead', h('tr', [h('th', t('plate')), h('th', t('enterprise')), h('th', t('speed')), h('th', t('status'))])),
                h('tbody', (inPark.length ? inPark : vehicles.value.filter((v) => v.online)).slice(0, 9).map((v) => h('tr', { key: v.id }, [
                  h('td', v.plate), h('td', shortName(entName(v.enterprise))), h('td', v.speed_kmh != null ? `${fmtNum(v.speed_kmh)} km/h` : '—'),
                  h('td', v.alarms && v.alarms.length ? h('span', { class: 'lv lv-red' }, t(`valarm.${v.alarms[0].kind}`)) : v.in_parking_lot ? t('inLot') : v.in_park ? t('inPark') : t('outside')),
                ]))),
              ]), h('span', { class: 'muted' }, `${t('vehicleAlarms')}: ${vAlarms}`), 'grow'),
          ]),
        ]),
      ]);
    };
  },
};
