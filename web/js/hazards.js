// Hidden hazards and risk points (双重预防): the four-colour risk points of each enterprise
// (counts by colour, each point with its colour) and the hazards with grade, state, deadline and
// their work order. The server scopes both lists (an enterprise sees its own).
import { h, ref, onMounted } from '/vendor/vue.esm-browser.prod.js';
import { t } from '../i18n.js';
import { api, entName, fmtTime } from './core.js';
import { panel } from './ui.js';

const COLOURS = ['red', 'orange', 'yellow', 'blue'];

export default {
  setup() {
    const points = ref([]), hazards = ref([]), err = ref('');
    onMounted(async () => {
      try {
        [points.value, hazards.value] = await Promise.all([api('/api/v1/risk-points'), api('/api/v1/hazards')]);
      } catch (x) { err.value = x.message; }
    });
    return () => {
      const byEnt = new Map();
      for (const p of points.value) {
        if (!byEnt.has(p.enterprise)) byEnt.set(p.enterprise, []);
        byEnt.get(p.enterprise).push(p);
      }
      return h('div', { class: 'page', id: 'hazards' }, [
        h('div', { class: 'page-h' }, h('h1', t('hz.title'))),
        err.value ? h('p', { class: 'error' }, err.value) : null,
        panel(t('hz.riskMap'), h('div', { class: 'rp-grid', id: 'risk-points' }, byEnt.size ? [...byEnt].map(([ent, list]) => h('div', { class: 'rp-ent', 'data-enterprise': ent }, [
          h('b', entName(ent)),
          h('div', { class: 'rp-counts' }, COLOURS.map((c) => h('span', { class: `rp-chip rp-${c}`, 'data-colour': c }, `${t(`hz.rp.${c}`)} ${list.filter((p) => p.colour === c).length}`))),
          h('ul', { class: 'rp-list' }, list.map((p) => h('li', { 'data-point': p.id }, [h('span', { class: `rp-dot rp-${p.colour}` }), ` ${p.name} · ${p.grade}`, p.measures ? h('span', { class: 'muted' }, ` · ${p.measures}`) : null]))),
        ])) : h('div', { class: 'muted pad' }, t('noData')))),
        panel(t('hz.hazards'), h('table', { class: 'tbl', id: 'hazard-list' }, [
          h('thead', h('tr', [t('id'), t('hz.titleL'), t('enterprise'), t('hz.grade'), t('hz.stateL'), t('hz.deadline'), t('hz.order')].map((x) => h('th', x)))),
          h('tbody', hazards.value.map((z) => h('tr', { 'data-hazard': z.id, class: z.progress_overdue ? 'wo-red' : '' }, [
            h('td', `#${z.id}`), h('td', z.title), h('td', entName(z.enterprise)), h('td', z.grade || '—'),
            h('td', t(`hz.state.${z.state}`)), h('td', z.deadline ? fmtTime(z.deadline, true) : '—'),
            h('td', z.order_id ? h('a', { href: `#/workorders/${z.order_id}` }, `#${z.order_id}`) : '—')]))),
        ])),
      ]);
    };
  },
};
