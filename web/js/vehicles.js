// 危化品车辆: live map, list with state, track replay over a time range, the entry/exit log and
// active vehicle alarms.
import { h, ref, shallowRef, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, can, fmtTime, fmtNum, fmtAgo, shortName, entName, toast } from './core.js';
import { Chart, VList, panel, button, select } from './ui.js';
import { mapOption } from './map.js';

export default {
  name: 'VehiclesView',
  setup() {
    const live = shallowRef([]);
    const entries = shallowRef([]);
    const alarms = shallowRef([]);
    const sel = ref('');
    const track = shallowRef(null);
    const trackRange = ref('1h');
    const pos = ref(0);
    const tab = ref('list');
    let timer = 0, player = 0;

    async function loadLive() {
      try { live.value = await api('/api/v1/vehicles/live'); } catch { /* keep */ }
      try { alarms.value = await api('/api/v1/vehicles/alarms'); } catch { /* keep */ }
    }
    async function loadEntries() {
      try { entries.value = (await api('/api/v1/vehicles/entries?limit=200')).entries; } catch { entries.value = []; }
    }
    async function loadTrack() {
      if (!sel.value) { track.value = null; return; }
      const span = { '1h': 3600, '6h': 6 * 3600, '24h': 86400, '7d': 7 * 86400 }[trackRange.value];
      const end = Date.now() / 1000;
      try {
        track.value = await api(`/api/v1/vehicles/${encodeURIComponent(sel.value)}/track?start=${end - span}&end=${end}&max=5000`);
        pos.value = track.value.points.length ? track.value.points.length - 1 : 0;
      } catch (e) { track.value = null; toast(e.message); }
    }
    function play() {
      clearInterval(player);
      const n = track.value?.points.length || 0;
      if (!n) return;
      pos.value = 0;
      player = setInterval(() => { if (pos.value >= n - 1) clearInterval(player); else pos.value = Math.min(n - 1, pos.value + Math.max(1, Math.round(n / 200))); }, 50);
    }
    async function locate(id) {
      try { await api(`/api/v1/vehicles/${encodeURIComponent(id)}/locate`, { method: 'POST' }); toast(t('locateSent')); } catch (e) { toast(e.message); }
    }
    onMounted(() => { loadLive(); loadEntries(); timer = setInterval(loadLive, 5000); });
    onBeforeUnmount(() => { clearInterval(timer); clearInterval(player); });
    watch([sel, trackRange], loadTrack);

    const mapOpt = computed(() => {
      void lang.value;
      const vs = live.value.filter((v) => v.lat != null).map((v) => ({ id: v.id, plate: v.plate, lon: v.lon, lat: v.lat, speed: v.speed_kmh, hazmat: v.hazmat, alarm: (v.alarms || []).length > 0 }));
      const tr = track.value?.points.map((p) => [p[2], p[1]]) || null;
      const tp = tr && tr.length ? tr[Math.min(pos.value, tr.length - 1)] : null;
      return mapOption({ vehicles: vs, track: tr, trackPos: tp, labels: true });
    });

    return () => {
      void lang.value;
      const v = live.value;
      const cur = track.value?.points[pos.value];
      const vstate = (x) => ((x.alarms || []).length ? h('span', { class: 'lv lv-red' }, t(`valarm.${x.alarms[0].kind}`)) : !x.online && x.ts == null ? h('span', { class: 'muted' }, t('noDataYet'))
        : h('span', x.in_parking_lot ? t('inLot') : x.in_park ? t('inPark') : x.in_park === false ? t('outside') : t('unknown')));
      return h('div', { class: 'page veh-page', id: 'vehicles-page' }, [
        h('div', { class: 'page-h' }, [h('h1', t('nav.vehicles')), h('span', { class: 'muted' },
          `${t('inPark')}: ${v.filter((x) => x.in_park).length} · ${t('online')}: ${v.filter((x) => x.online).length} · ${t('total')}: ${v.length}`)]),
        h('div', { class: 'grid-3-2' }, [
          h('div', [
            panel(t('liveMap'), h(Chart, { option: mapOpt.value, cls: 'h-vmap', onEvents: { click: (p) => { if (p.seriesName === 'vehicles' && p.data?.id) sel.value = p.data.id; } } })),
            panel(t('trackReplay'), h('div', { class: 'replay', id: 'replay' }, [
              select(sel.value, [['', t('pickVehicle')], ...v.map((x) => [x.id, `${x.plate} (${x.id})`])], (x) => { sel.value = x; }, { id: 'track-vehicle' }),
              select(trackRange.value, [['1h', t('range.1h')], ['6h', t('range.6h')], ['24h', t('range.24h')], ['7d', t('range.7d')]], (x) => { trackRange.value = x; }),
              button(t('play'), play, { disabled: !track.value?.points.length }),
              h('input', { type: 'range', min: 0, max: Math.max(0, (track.value?.points.length || 1) - 1), value: pos.value, onInput: (e) => { pos.value = Number(e.target.value); }, class: 'grow' }),
              h('span', { class: 'muted small' }, cur ? `${fmtTime(cur[0], true)} · ${fmtNum(cur[3])} km/h` : track.value ? `${track.value.total} ${t('samples')}` : ''),
            ])),
          ]),
          h('div', [
            h('div', { class: 'tabs' }, [['list', t('vehicleList')], ['entries', t('entryLog')], ['alarms', `${t('vehicleAlarms')} (${alarms.value.length})`]].map(([k, l]) =>
              h('button', { type: 'button', class: ['tab', tab.value === k ? 'on' : ''], 'data-tab': k, onClick: () => { tab.value = k; if (k === 'entries') loadEntries(); } }, l))),
            tab.value === 'list' ? h(VList, {
              items: v, rowHeight: 34, cls: 'veh-list', header: h('div', { class: 'vhrow ahead' }, [h('span', t('plate')), h('span', t('cargo')), h('span', t('speed')), h('span', t('lastSeen')), h('span', t('status')), h('span', '')]),
              row: (x) => {
                const m = model.vehicles.find((y) => y.id === x.id) || {};
                return h('div', { class: ['vhrow', x.id === sel.value ? 'sel' : ''], onClick: () => { sel.value = x.id; } }, [
                  h('span', [x.plate, x.hazmat ? h('span', { class: 'hzm' }, t('hazmat')) : null]), h('span', { class: 'ell' }, m.cargo ? `${m.cargo} ${m.hazmat_class ? '(' + m.hazmat_class + ')' : ''}` : '—'),
                  h('span', x.speed_kmh != null ? `${fmtNum(x.speed_kmh)} km/h` : '—'), h('span', x.ts ? fmtAgo(x.ts) : t('never')), h('span', vstate(x)),
                  h('span', can.act() && x.online ? button(t('locate'), (e) => { e.stopPropagation(); locate(x.id); }, { class: 'ghost small' }) : null),
                ]);
              },
            }) : null,
            tab.value === 'entries' ? h('table', { class: 'tbl compact', id: 'entries' }, [
              h('thead', h('tr', [h('th', t('time')), h('th', t('direction')), h('th', t('plate')), h('th', t('enterprise')), h('th', t('gate'))])),
              h('tbody', entries.value.length ? entries.value.map((e) => h('tr', { key: e.id }, [h('td', fmtTime(e.ts, true)), h('td', h('span', { class: e.direction === 'in' ? 'q-good' : 'muted' }, t(`dir.${e.direction}`))),
                h('td', e.plate), h('td', shortName(entName(e.enterprise))), h('td', model.geofences.find((g) => g.id === e.gate)?.name || e.gate || '—')])) : [h('tr', h('td', { colspan: 5, class: 'muted' }, t('noData')))]),
            ]) : null,
            tab.value === 'alarms' ? h('table', { class: 'tbl compact', id: 'vehicle-alarms' }, [
              h('thead', h('tr', [h('th', t('plate')), h('th', t('alarm')), h('th', t('since')), h('th', t('detail'))])),
              h('tbody', alarms.value.length ? alarms.value.map((a) => h('tr', [h('td', a.plate), h('td', h('span', { class: 'lv lv-orange' }, t(`valarm.${a.kind}`))), h('td', fmtTime(a.since, true)), h('td', a.detail || '')])) : [h('tr', h('td', { colspan: 4, class: 'muted' }, t('noAlarms')))]),
            ]) : null,
          ]),
        ]),
      ]);
    };
  },
};
