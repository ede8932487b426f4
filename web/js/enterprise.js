// 企业视图: one enterprise — its installations and major hazard sources, areas, devices and points
// (with live values) and its open alarms. Enterprise users land here and see only their own.
import { h, ref, shallowRef, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, sse, openAlarms, lastValues, keyOf, seriesKey, fmtTime, fmtNum, shortName, describe, levelNum, worstBy, quality } from './core.js';
import { VList, panel, kv, levelBadge, stateBadge, onlineBadge } from './ui.js';
import { useActivePermits, permitsPanel } from './permits.js';

export default {
  name: 'EnterpriseView',
  props: { id: String },
  setup(props) {
    const ent = shallowRef(null);
    const err = ref('');
    const last = shallowRef(new Map());
    const status = shallowRef(new Map());
    const filter = ref('');

    // the enterprise's four-colour risk points (双重预防)
    const risk = ref([]);
    async function loadRisk() {
      try { risk.value = await api(`/api/v1/risk-points?enterprise=${encodeURIComponent(props.id)}`); } catch { risk.value = []; }
    }
    async function load() {
      err.value = '';
      ent.value = null;
      loadRisk();
      if (state.me?.enterprise && props.id !== state.me.enterprise) { err.value = t('noAccess'); return; }
      try { ent.value = await api(`/api/v1/enterprises/${encodeURIComponent(props.id)}`); } catch (e) {
        err.value = e.status === 404 ? t('noAccess') : e.message; return;
      }
      try {
        const st = await api('/api/v1/ui/device-status');
        status.value = new Map(st.devices.filter((d) => d.enterprise === props.id).map((d) => [d.id, d]));
      } catch { /* keep */ }
      await loadLast();
    }
    // last values of the enterprise's points, refreshed every 10 s
    async function loadLast() {
      const pts = model.points.filter((p) => model.dev.get(p.device)?.enterprise === props.id && p.series);
      // the API takes at most 16 selectors per request
      const m = new Map();
      const chunks = [];
      for (let i = 0; i < pts.length; i += 16) chunks.push(pts.slice(i, i + 16));
      await Promise.all(chunks.map(async (c) => {
        const qs = c.map((p) => `match[]=${encodeURIComponent(p.series)}`).join('&');
        try { for (const v of (await api(`/api/v1/last?${qs}`)).data) m.set(seriesKey(v.metric), v); } catch { /* none */ }
      }));
      last.value = m;
    }
    const onValues = (vals) => {
      const m = new Map(last.value);
      let any = false;
      for (const v of vals) {
        const k = seriesKey(v.metric);
        const p = model.ptBySeries.get(k);
        if (p && model.dev.get(p.device)?.enterprise === props.id) { m.set(k, v); any = true; }
      }
      if (any) last.value = m;
    };
    // the enterprise's active special-operation permits (特殊作业), live from `permit` events
    const permits = useActivePermits(props.id);
    onMounted(() => { if (!state.me?.enterprise || state.me.enterprise === props.id) permits.start(); });
    onBeforeUnmount(() => permits.stop());
    let timer = 0;
    onMounted(() => { sse.setValues(''); sse.valueListeners.add(onValues); load(); timer = setInterval(() => { if (ent.value) loadLast(); }, 10000); });
    onBeforeUnmount(() => { clearInterval(timer); sse.valueListeners.delete(onValues); });
    watch(() => props.id, load);

    return () => {
      void lang.value; void state.alarmsVersion;
      if (err.value) return h('div', { class: 'page' }, h('div', { class: 'empty-page', id: 'no-access' }, err.value));
      const e = ent.value;
      if (!e) return h('div', { class: 'page muted pad' }, t('loading'));
      const inst = model.installations.filter((i) => i.enterprise === e.id);
      const areas = model.areas.filter((a) => a.enterprise === e.id);
      const devs = model.devices.filter((d) => d.enterprise === e.id);
      const f = filter.value.trim().toLowerCase();
      const pts = [...model.pt.values()].filter((p) => model.dev.get(p.device)?.enterprise === e.id)
        .filter((p) => !f || p.id.toLowerCase().includes(f) || p.name.includes(f) || (model.dev.get(p.device)?.name || '').includes(f));
      const alarms = [...openAlarms.value.values()].filter((a) => a.enterprise === e.id).sort((a, b) => levelNum(b.level) - levelNum(a.level));
      const worst = worstBy('device');
      const online = [...status.value.values()].filter((d) => d.online).length;
      return h('div', { class: 'page ent-page', id: 'enterprise-page', 'data-enterprise': e.id }, [
        h('div', { class: 'page-h' }, [h('h1', { id: 'ent-name' }, e.name), h('span', { class: 'muted' }, `${e.industry || ''} · ${e.address || ''}`)]),
        h('div', { class: 'stats' }, [
          [t('stDevices'), devs.length], [t('online'), `${online}/${status.value.size}`], [t('stPoints'), pts.length],
          [t('stHazards'), inst.filter((i) => i.major_hazard).length], [t('openAlarms'), alarms.length],
        ].map(([k, v]) => h('div', { class: 'stat' }, [h('b', String(v)), k]))),
        h('div', { class: 'grid-1-2' }, [
          h('div', [
            panel(t('basicInfo'), kv([[t('uscc'), e.uscc || '—'], [t('industry'), e.industry || '—'],
              ...(e.contacts || []).map((c) => [c.role || t('contact'), `${c.name} ${c.phone || ''}`])])),
            panel(t('installations'), h('table', { class: 'tbl compact', id: 'installations' }, [
              h('thead', h('tr', [h('th', t('name')), h('th', t('kindLabel')), h('th', t('majorHazard'))])),
              h('tbody', inst.map((i) => h('tr', [h('td', i.name), h('td', t(`ikind.${i.kind}`) !== `ikind.${i.kind}` ? t(`ikind.${i.kind}`) : i.kind),
                h('td', i.major_hazard ? h('span', { class: `hz hz-${i.major_hazard.grade}` }, `${t('grade')} ${['', '一', '二', '三', '四'][i.major_hazard.grade] || i.major_hazard.grade}${lang.value === 'en' ? '' : '级'} · R=${i.major_hazard.r_value} · ${(i.major_hazard.substances || []).join('、')}`) : '—')]))),
            ])),
            panel(t('hz.riskMap'), h('div', { id: 'ent-risk' }, [
              h('div', { class: 'rp-counts' }, ['red', 'orange', 'yellow', 'blue'].map((c) => h('span', { class: `rp-chip rp-${c}`, 'data-colour': c },
                `${t(`hz.rp.${c}`)} ${risk.value.filter((p) => p.colour === c).length}`))),
              h('ul', { class: 'rp-list' }, risk.value.map((p) => h('li', { 'data-point': p.id }, [h('span', { class: `rp-dot rp-${p.colour}` }), ` ${p.name} · ${p.grade}`])))])),
            permitsPanel(permits.list.value),
            panel(t('areas'), h('ul', { class: 'plain cols2' }, areas.map((a) => h('li', `${a.name} (${t(`akind.${a.kind}`) !== `akind.${a.kind}` ? t(`akind.${a.kind}`) : a.kind})`)))),
            panel(t('openAlarms'), alarms.length ? h('ul', { class: 'plain', id: 'ent-alarms' }, alarms.slice(0, 30).map((a) => h('li', [levelBadge(a.level), ' ', stateBadge(a.state), ' ',
              h('a', { href: `#/alarms?id=${a.id}` }, `${describe(a).what} · ${describe(a).text}`)]))) : h('p', { class: 'muted' }, t('noOpenAlarms'))),
          ]),
          panel(`${t('pointsList')} (${pts.length})`, h(VList, {
            items: pts, rowHeight: 32, cls: 'pt-list',
            header: h('div', { class: 'prow ahead' }, [h('span', t('device')), h('span', t('point')), h('span', t('value')), h('span', t('time')), h('span', t('status'))]),
            row: (p) => {
              const v = last.value.get(p.key);
              const st = status.value.get(p.device);
              const lv = worst.get(p.device);
              return h('a', { class: 'prow', href: `#/point/${encodeURIComponent(p.id)}` }, [
                h('span', { class: 'ell' }, model.dev.get(p.device)?.name || p.device), h('span', { class: 'ell' }, p.name),
                h('span', { class: v && v.quality ? 'q-bad' : '' }, v ? `${fmtNum(v.value)} ${p.unit || ''}` : '—'),
                h('span', v ? fmtTime(v.ts) : '—'),
                h('span', lv ? levelBadge(lv) : st ? onlineBadge(st.online, st.last_seen == null) : '—'),
              ]);
            },
          }), h('input', { placeholder: t('filterPh'), value: filter.value, onInput: (ev) => { filter.value = ev.target.value; }, class: 'small-input' }), 'grow'),
        ]),
      ]);
    };
  },
};
