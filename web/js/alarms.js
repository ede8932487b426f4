// 报警处置台: the alarm console. Filter by state, level, enterprise, area and time; act on one
// alarm (acknowledge, comment, assign, clear, close, silence with reason and expiry); the list and
// the selected alarm stay live from the event stream.
import { h, ref, shallowRef, reactive, computed, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, sse, can, describe, fmtTime, fmtNum, entName, shortName, toast, navigate, levelNum } from './core.js';
import { VList, panel, levelBadge, stateBadge, select, button, kv } from './ui.js';
import { dispatchFromAlarm } from './workorders.js';

const STATES = ['active', 'acknowledged', 'cleared', 'closed'];
const LEVELS = ['red', 'orange', 'yellow', 'blue'];

function query() {
  const i = location.hash.indexOf('?');
  return new URLSearchParams(i >= 0 ? location.hash.slice(i + 1) : '');
}
const toLocalInput = (ms) => { if (!ms) return ''; const d = new Date(ms - new Date().getTimezoneOffset() * 60000); return d.toISOString().slice(0, 16); };

export default {
  name: 'AlarmsView',
  setup() {
    const q = query();
    const f = reactive({
      states: q.has('state') ? q.get('state').split(',').filter(Boolean) : ['active', 'acknowledged'],
      level: q.get('level') || '', enterprise: q.get('enterprise') || '', area: q.get('area') || '',
      since: q.get('since') || '', until: q.get('until') || '',
    });
    const list = shallowRef([]);
    const next = ref('');
    const loading = ref(false);
    const selId = ref(q.get('id') ? Number(q.get('id')) : 0);
    const detail = ref(null);
    const form = reactive({ text: '', assignee: '', silKind: 'device', silTarget: '', reason: '', duration: '2h' });
    const silences = shallowRef([]);
    const err = ref('');

    const params = () => {
      const p = new URLSearchParams();
      if (f.states.length && f.states.length < 4) p.set('state', f.states.join(','));
      if (f.level) p.set('level', f.level);
      if (f.enterprise) p.set('enterprise', f.enterprise);
      if (f.area) p.set('area', f.area);
      if (f.since) p.set('since', String(Date.parse(f.since) / 1000));
      if (f.until) p.set('until', String(Date.parse(f.until) / 1000));
      p.set('limit', '500');
      return p;
    };
    async function load(more = false) {
      loading.value = true;
      try {
        const p = params();
        if (more && next.value) p.set('before', next.value);
        const r = await api(`/api/v1/alarms?${p}`, { withHeaders: true });
        list.value = more ? [...list.value, ...r.body] : r.body;
        next.value = r.headers.get('X-Next-Before') || '';
      } catch (e) { toast(e.message); }
      loading.value = false;
    }
    async function loadDetail() {
      if (!selId.value) { detail.value = null; return; }
      try { detail.value = await api(`/api/v1/alarms/${selId.value}`); } catch (e) { detail.value = null; toast(e.message); }
      const a = detail.value;
      if (a) { form.silKind = a.device ? 'device' : a.point ? 'point' : 'source'; form.silTarget = a.device || a.point || a.source; }
    }
    async function loadSilences() { try { silences.value = await api('/api/v1/silences'); } catch { /* none */ } }

    const matches = (a) => (!f.states.length || f.states.includes(a.state)) && (!f.level || levelNum(a.level) >= levelNum(f.level)) &&
      (!f.enterprise || a.enterprise === f.enterprise) && (!f.area || a.area === f.area) && !f.since && !f.until;
    const onAlarm = (ev) => {
      const a = ev.alarm;
      const i = list.value.findIndex((x) => x.id === a.id);
      if (i >= 0) {
        const l = list.value.slice();
        if (f.states.includes(a.state) || !f.states.length) l[i] = a; else l.splice(i, 1);
        list.value = l;
      } else if (matches(a)) {
        list.value = [a, ...list.value];
      }
      if (a.id === selId.value) loadDetail();
    };

    onMounted(() => { sse.setValues(''); sse.listeners.add(onAlarm); load(); loadDetail(); loadSilences(); });
    onBeforeUnmount(() => sse.listeners.delete(onAlarm));
    watch(() => [f.states.join(), f.level, f.enterprise, f.area, f.since, f.until], () => load());
    watch(selId, loadDetail);

    async function act(verb, body) {
      err.value = '';
      try {
        const a = await api(`/api/v1/alarms/${selId.value}/${verb}`, { method: 'POST', json: body || {} });
        detail.value = a;
        const i = list.value.findIndex((x) => x.id === a.id);
        if (i >= 0) { const l = list.value.slice(); l[i] = a; list.value = l; }
        form.text = '';
        toast(t(`done.${verb}`));
      } catch (e) { err.value = e.message; }
    }
    async function silence() {
      err.value = '';
      if (!form.reason.trim()) { err.value = t('reasonRequired'); return; }
      try {
        await api('/api/v1/silences', { method: 'POST', json: { kind: form.silKind, target: form.silTarget, reason: form.reason, duration: form.duration } });
        form.reason = '';
        toast(t('done.silence'));
        loadSilences();
      } catch (e) { err.value = e.message; }
    }
    async function endSilence(id) {
      try { await api(`/api/v1/silences/${id}`, { method: 'DELETE' }); loadSilences(); } catch (e) { toast(e.message); }
    }

    const areas = computed(() => model.areas.filter((a) => !f.enterprise || a.enterprise === f.enterprise));

    const header = () => h('div', { class: 'arow ahead' }, [
      h('span', 'ID'), h('span', t('levelLabel')), h('span', t('stateLabel')), h('span', t('startedAt')), h('span', t('enterprise')),
      h('span', t('source')), h('span', t('description')), h('span', t('assignee')),
    ]);
    const row = (a) => {
      const d = describe(a);
      return h('div', { class: ['arow', a.id === selId.value ? 'sel' : '', a.state === 'active' && levelNum(a.level) >= 3 ? 'hot' : ''],
        'data-alarm-id': a.id, onClick: () => { selId.value = a.id; } }, [
        h('span', a.id), h('span', levelBadge(a.level)), h('span', { class: 'a-state' }, stateBadge(a.state)), h('span', fmtTime(a.started_at, true)),
        h('span', shortName(entName(a.enterprise))), h('span', { class: 'ell' }, d.what), h('span', { class: 'ell' }, d.text),
        h('span', a.assignee || ''),
      ]);
    };

    const detailView = () => {
      const a = detail.value;
      if (!a) return h('div', { class: 'muted pad' }, t('pickAlarm'));
      const d = describe(a);
      const acts = can.act();
      const inp = (key, ph) => h('input', { value: form[key], placeholder: ph, onInput: (e) => { form[key] = e.target.value; } });
      return h('div', { class: 'alarm-detail', id: 'alarm-detail' }, [
        h('h3', [levelBadge(a.level), ' ', stateBadge(a.state), ' ', `#${a.id} ${d.what}`]),
        kv([[t('description'), d.text], [t('ruleLabel'), `${t(`rule.${a.rule}`)} (${a.rule}/${a.condition})`],
          [t('enterprise'), entName(a.enterprise)], [t('area'), model.area.get(a.area)?.name || a.area || '—'],
          [t('point'), a.point ? h('a', { href: `#/point/${encodeURIComponent(a.point)}` }, a.point) : a.device ? h('a', { href: `#/device/${encodeURIComponent(a.device)}` }, a.device) : a.source],
          [t('value'), a.value != null ? fmtNum(a.value) : '—'], [t('setpoint'), a.threshold != null ? fmtNum(a.threshold) : '—'],
          [t('startedAt'), fmtTime(a.started_at, true)], [t('acknowledgedAt'), a.acknowledged_at ? `${fmtTime(a.acknowledged_at, true)} · ${a.acknowledged_by}` : '—'],
          [t('clearedAt'), a.cleared_at ? `${fmtTime(a.cleared_at, true)} · ${a.cleared_by}` : '—'],
          [t('assignee'), a.assignee || '—'],
          [t('flags'), [a.silenced && t('silenced'), a.inhibited && t('inhibited'), a.flapping && t('flapping'), a.group_id && `${t('grouped')} #${a.group_id}`].filter(Boolean).join(' · ') || '—']]),
        acts ? h('div', { class: 'actions', id: 'alarm-actions' }, [
          h('div', { class: 'btnrow' }, [
            button(t('act.ack'), () => act('ack', form.text ? { text: form.text } : {}), { id: 'btn-ack', disabled: a.state !== 'active' }),
            button(t('act.clear'), () => act('clear', form.text ? { text: form.text } : {}), { id: 'btn-clear', disabled: !['active', 'acknowledged'].includes(a.state) }),
            button(t('act.close'), () => act('close', form.text ? { text: form.text } : {}), { id: 'btn-close', disabled: a.state !== 'cleared' }),
          ]),
          h('div', { class: 'btnrow' }, [inp('text', t('commentPh')),
            button(t('act.comment'), () => form.text.trim() && act('comment', { text: form.text }), { id: 'btn-comment', disabled: a.state === 'closed' })]),
          h('div', { class: 'btnrow' }, [inp('assignee', t('assigneePh')),
            button(t('act.assign'), () => form.assignee.trim() && act('assign', { assignee: form.assignee }), { id: 'btn-assign', disabled: a.state === 'closed' })]),
          h('div', { class: 'btnrow' }, [
            select(form.silKind, ['device', 'point', 'area', 'enterprise', 'source'].map((k) => [k, t(`silKind.${k}`)]), (v) => {
              form.silKind = v; form.silTarget = { device: a.device, point: a.point, area: a.area, enterprise: a.enterprise, source: a.source }[v] || '';
            }),
            inp('reason', t('reasonPh')),
            select(form.duration, [['30m', t('dur.30m')], ['2h', t('dur.2h')], ['8h', t('dur.8h')], ['24h', t('dur.24h')], ['72h', t('dur.72h')], ['168h', t('dur.7d')]], (v) => { form.duration = v; }),
            button(t('act.silence'), silence, { id: 'btn-silence', class: 'warn' }),
          ]),
          can.park() ? h('div', { class: 'btnrow' }, button(t('wo.dispatch'), () => dispatchFromAlarm(a.id), { id: 'btn-dispatch' })) : null,
          err.value ? h('p', { class: 'error', role: 'alert' }, err.value) : null,
        ]) : null,
        h('h4', t('history')),
        h('ol', { class: 'history' }, (a.history || []).slice().reverse().map((x) => h('li', [
          h('span', { class: 'muted' }, fmtTime(x.at, true)), ' ', h('b', t(`hist.${x.action}`) !== `hist.${x.action}` ? t(`hist.${x.action}`) : x.action),
          ' · ', x.user, x.value != null ? ` · ${fmtNum(x.value)}` : '', x.text ? ` · ${x.text}` : '', x.flags ? ` [${x.flags}]` : '',
        ]))),
      ]);
    };

    return () => {
      void lang.value; void state.alarmsVersion;
      const ents = model.enterprises;
      const filters = h('div', { class: 'filters', id: 'alarm-filters' }, [
        h('div', { class: 'chips' }, STATES.map((s) => h('label', { class: ['chip', f.states.includes(s) ? 'on' : ''] }, [
          h('input', { type: 'checkbox', checked: f.states.includes(s), 'data-state': s,
            onChange: (e) => { f.states = e.target.checked ? [...f.states, s] : f.states.filter((x) => x !== s); } }), t(`state.${s}`)]))),
        select(f.level, [['', t('allLevels')], ...LEVELS.map((l) => [l, `≥ ${t(`level.${l}`)}`])], (v) => { f.level = v; }, { id: 'f-level' }),
        state.me?.enterprise ? null : select(f.enterprise, [['', t('allEnterprises')], ...ents.map((e) => [e.id, shortName(e.name)])], (v) => { f.enterprise = v; f.area = ''; }, { id: 'f-ent' }),
        select(f.area, [['', t('allAreas')], ...areas.value.map((a) => [a.id, `${a.name} (${a.id})`])], (v) => { f.area = v; }, { id: 'f-area' }),
        h('label', { class: 'inl' }, [t('from'), h('input', { type: 'datetime-local', value: f.since, onChange: (e) => { f.since = e.target.value; } })]),
        h('label', { class: 'inl' }, [t('to'), h('input', { type: 'datetime-local', value: f.until, onChange: (e) => { f.until = e.target.value; } })]),
        button(t('today'), () => { f.since = toLocalInput(new Date().setHours(0, 0, 0, 0)); f.until = ''; }, { class: 'ghost' }),
        button(t('reset'), () => { Object.assign(f, { states: ['active', 'acknowledged'], level: '', enterprise: '', area: '', since: '', until: '' }); }, { class: 'ghost' }),
      ]);
      return h('div', { class: 'page alarms-page' }, [
        h('div', { class: 'page-h' }, [h('h1', t('nav.alarms')), h('span', { class: 'muted' }, `${list.value.length}${next.value ? '+' : ''} ${t('items')}`)]),
        filters,
        h('div', { class: 'split' }, [
          h('div', { class: 'split-main' }, [
            h(VList, { items: list.value, rowHeight: 34, row, header: header(), cls: 'alarm-list', empty: loading.value ? t('loading') : t('noAlarms') }),
            next.value ? button(t('loadMore'), () => load(true), { class: 'ghost' }) : null,
          ]),
          h('div', { class: 'split-side' }, [
            panel(t('alarmDetail'), detailView()),
            panel(t('silences'), h('table', { class: 'tbl compact', id: 'silences' }, [
              h('thead', h('tr', [h('th', t('target')), h('th', t('reason')), h('th', t('expires')), h('th', t('by')), can.act() ? h('th', '') : null])),
              h('tbody', silences.value.length ? silences.value.map((s) => h('tr', { key: s.id }, [
                h('td', `${t(`silKind.${s.kind}`)}: ${s.target}`), h('td', s.reason), h('td', fmtTime(s.expires_at, true)), h('td', s.created_by || s.user || ''),
                can.act() ? h('td', button(t('end'), () => endSilence(s.id), { class: 'ghost small' })) : null,
              ])) : [h('tr', h('td', { colspan: 5, class: 'muted' }, t('noSilences')))]),
            ])),
          ]),
        ]),
      ]);
    };
  },
};
export { query };
