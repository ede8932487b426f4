// Hidden hazards and risk points (双重预防): the four-colour risk points of each enterprise
// (counts by colour, each point with its colour) and the hazards with grade, state, deadline and
// their work order. The server scopes both lists (an enterprise sees its own).
import { h, ref, reactive, onMounted } from '/vendor/vue.esm-browser.prod.js';
import { t } from '../i18n.js';
import { state, api, can, entName, fmtTime, toast, model } from './core.js';
import { panel, button, select, Chart } from './ui.js';
import { mapOption } from './map.js';

const COLOURS = ['red', 'orange', 'yellow', 'blue'];

export default {
  setup() {
    const points = ref([]), hazards = ref([]), err = ref(''), sel = ref(null);
    const listings = ref({ listings: [], candidates: [] }), lsReason = ref('');
    const f = reactive({ title: '', grade: '一般', measures: '', owner: '', funds: '', interim_plan: '', plan: '', deadline: '', text: '' });
    async function load() {
      try {
        [points.value, hazards.value, listings.value] = await Promise.all([api('/api/v1/risk-points'), api('/api/v1/hazards'),
          api('/api/v1/listings?active=1')]);
        if (sel.value) sel.value = hazards.value.find((z) => z.id === sel.value.id) || null;
      } catch (x) { err.value = x.message; }
    }
    onMounted(load);
    // who may act: the enterprise on its own, the park on all (the server decides; this picks buttons)
    const park = () => can.park();
    const mine = (z) => park() || (state.me?.role === 'enterprise' && z.enterprise === state.me.enterprise);
    async function post(path, body, done) {
      err.value = '';
      try { await api(path, { method: 'POST', json: body }); toast(done); await load(); } catch (x) { err.value = x.message; }
    }
    const register = () => f.title.trim() && post('/api/v1/hazards', { title: f.title.trim(), grade: f.grade }, t('hz.registered'));
    const hzAct = (z, a, extra = {}) => post(`/api/v1/hazards/${z.id}/${a}`, extra, t(`hz.did.${a}`));
    const rectify = (z) => hzAct(z, 'rectify', { measures: f.measures, owner: f.owner, funds: f.funds, interim_plan: f.interim_plan, plan: f.plan,
      deadline: f.deadline ? new Date(`${f.deadline}T23:59:59+08:00`).toISOString() : undefined });
    // 挂牌督办: list a candidate (a 重大 hazard, a unit repeatedly overdue) or lift a listing, with a reason
    const list = (c) => post('/api/v1/listings', { unit: c.unit, basis: c.basis, hazard_id: c.hazard_id || undefined,
      reason: lsReason.value.trim() || c.reason }, t('ls.listed'));
    const lift = (l) => (lsReason.value.trim() ? post(`/api/v1/listings/${l.id}/lift`, { text: lsReason.value.trim() }, t('ls.lifted'))
      : (err.value = t('wo.needText')));
    const listingsPanel = () => panel(t('ls.title'), h('div', { id: 'listings' }, [
      park() ? h('div', { class: 'btnrow' }, [h('input', { value: lsReason.value, placeholder: t('ls.reasonPh'), id: 'ls-reason', onInput: (e) => { lsReason.value = e.target.value; } })]) : null,
      h('table', { class: 'tbl', id: 'listing-list' }, [
        h('thead', h('tr', [t('ls.unit'), t('ls.basis'), t('ls.reason'), t('ls.listedAt'), t('ls.due'), ''].map((x) => h('th', x)))),
        h('tbody', [
          ...listings.value.listings.map((l) => h('tr', { 'data-listing': l.id, class: l.overdue ? 'wo-red' : '' }, [
            h('td', entName(l.unit)), h('td', t(`ls.b.${l.basis}`) + (l.hazard_id ? ` #${l.hazard_id}` : '')), h('td', l.reason),
            h('td', fmtTime(l.listed_at, true)), h('td', fmtTime(l.due_at, true)),
            h('td', park() && l.active ? button(t('ls.lift'), () => lift(l), { class: 'warn', 'data-lift': l.id }) : '')])),
          ...(park() ? listings.value.candidates.map((c) => h('tr', { class: 'muted', 'data-candidate': c.unit }, [
            h('td', entName(c.unit)), h('td', t(`ls.b.${c.basis}`) + (c.hazard_id ? ` #${c.hazard_id}` : '')), h('td', c.reason),
            h('td', t('ls.candidate')), h('td', '—'), h('td', button(t('ls.list'), () => list(c), { 'data-list': c.unit }))])) : []),
        ]),
      ]),
    ]));
    const inp = (k, ph, attrs = {}) => h('input', { value: f[k], placeholder: ph, 'data-f': k, onInput: (e) => { f[k] = e.target.value; }, ...attrs });
    const actions = (z) => {
      if (!mine(z)) return null;
      const b = [];
      if (z.state === 'graded') {
        b.push(h('div', { class: 'btnrow' }, [inp('measures', t('hz.measures')), inp('owner', t('hz.owner')), inp('funds', t('hz.funds'))]),
          h('div', { class: 'btnrow' }, [inp('interim_plan', t('hz.interim')), inp('plan', t('hz.plan')), inp('deadline', '', { type: 'date' }),
            button(t('hz.act.rectify'), () => rectify(z), { id: 'hz-btn-rectify' })]));
      }
      if (z.state === 'rectifying') {
        b.push(h('div', { class: 'btnrow' }, [inp('text', t('hz.progressPh')), button(t('hz.act.progress'), () => hzAct(z, 'progress', { text: f.text }), { id: 'hz-btn-progress' }),
          button(t('hz.act.submit'), () => hzAct(z, 'submit'), { id: 'hz-btn-submit' })]));
      }
      if (z.state === 'pending' && park()) {
        b.push(h('div', { class: 'btnrow' }, [inp('text', t('reasonPh')), button(t('hz.act.accept'), () => hzAct(z, 'accept'), { id: 'hz-btn-accept' }),
          button(t('hz.act.return'), () => hzAct(z, 'return', { text: f.text }), { id: 'hz-btn-return', class: 'warn' })]));
      }
      return h('div', { class: 'actions', id: 'hz-actions' }, b);
    };
    return () => {
      const byEnt = new Map();
      for (const p of points.value) {
        if (!byEnt.has(p.enterprise)) byEnt.set(p.enterprise, []);
        byEnt.get(p.enterprise).push(p);
      }
      return h('div', { class: 'page', id: 'hazards' }, [
        h('div', { class: 'page-h' }, h('h1', t('hz.title'))),
        err.value ? h('p', { class: 'error' }, err.value) : null,
        // the four-colour risk map: the located points on the park map (riskpoints_layer.js)
        model.sitePlan ? panel(t('hz.riskMapTitle'), h(Chart, { option: mapOption({ labels: true }), cls: 'h-riskmap' }), null, 'risk-map') : null,
        panel(t('hz.riskMap'), h('div', { class: 'rp-grid', id: 'risk-points' }, byEnt.size ? [...byEnt].map(([ent, list]) => h('div', { class: 'rp-ent', 'data-enterprise': ent }, [
          h('b', entName(ent)),
          h('div', { class: 'rp-counts' }, COLOURS.map((c) => h('span', { class: `rp-chip rp-${c}`, 'data-colour': c }, `${t(`hz.rp.${c}`)} ${list.filter((p) => p.colour === c).length}`))),
          h('ul', { class: 'rp-list' }, list.map((p) => h('li', { 'data-point': p.id }, [h('span', { class: `rp-dot rp-${p.colour}` }), ` ${p.name} · ${p.grade}`, p.measures ? h('span', { class: 'muted' }, ` · ${p.measures}`) : null]))),
        ])) : h('div', { class: 'muted pad' }, t('noData')))),
        (state.me?.role === 'enterprise' || park()) && state.me?.enterprise ? h('div', { class: 'btnrow', id: 'hz-register' }, [
          inp('title', t('hz.titlePh')), select(f.grade, [['一般', t('hz.g.general')], ['较大', t('hz.g.larger')], ['重大', t('hz.g.major')]], (v) => { f.grade = v; }),
          button(t('hz.register'), register, { id: 'hz-btn-register' })]) : null,
        sel.value ? panel(`#${sel.value.id} ${sel.value.title} · ${t(`hz.state.${sel.value.state}`)}`, [actions(sel.value),
          err.value ? h('p', { class: 'error', role: 'alert', id: 'hz-error' }, err.value) : null]) : null,
        listingsPanel(),
        panel(t('hz.hazards'), h('table', { class: 'tbl', id: 'hazard-list' }, [
          h('thead', h('tr', [t('id'), t('hz.titleL'), t('enterprise'), t('hz.grade'), t('hz.stateL'), t('hz.deadline'), t('hz.order')].map((x) => h('th', x)))),
          h('tbody', hazards.value.map((z) => h('tr', { 'data-hazard': z.id, class: z.progress_overdue ? 'wo-red' : '', onClick: () => { sel.value = z; } }, [
            h('td', `#${z.id}`), h('td', z.title), h('td', entName(z.enterprise)), h('td', z.grade || '—'),
            h('td', t(`hz.state.${z.state}`)), h('td', z.deadline ? fmtTime(z.deadline, true) : '—'),
            h('td', z.order_id ? h('a', { href: `#/workorders/${z.order_id}` }, `#${z.order_id}`) : '—')]))),
        ])),
      ]);
    };
  },
};
