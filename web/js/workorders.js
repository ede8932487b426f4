// Work orders (监管闭环): an inbox for each role — the park sees every order, an enterprise its
// own, a department what is assigned to it (the server scopes every list) — with deadlines
// counting down and overdue levels coloured; the order with its history, evidence upload and
// preview, and the actions its state and the caller's role allow; the red-yellow-blue board.
// Work-order events from the server-sent stream refresh the open views.
import { h, ref, reactive, onMounted, onBeforeUnmount, watch } from '/vendor/vue.esm-browser.prod.js';
import { t } from '../i18n.js';
import { state, api, can, entName, fmtTime, navigate, toast, sse } from './core.js';
import { panel, button, select, kv } from './ui.js';

// Escalations and priority raises are announced wherever the user is (the console's notice), not
// only in the inbox: the event stream carries them to every principal who sees the order.
sse.woListeners.add((ev) => {
  if (ev.event === 'escalated') toast(t('wo.escalatedToast').replace('{id}', ev.order.id).replace('{l}', ev.level));
  else if (ev.event === 'raised') toast(t('wo.raisedToast').replace('{id}', ev.order.id));
});

// Which actions each role may take in each state — the server's table (src/supervision/sv_order.c)
// decides; this only chooses which buttons to show.
const TARGET = ['sign', 'bounce', 'start', 'submit', 'extend'];
const PARK = ['return', 'accept', 'cancel', 'reopen', 'assign', 'decide-extension'];
const BY_STATE = {
  dispatched: ['sign', 'bounce', 'extend', 'cancel', 'assign', 'decide-extension'],
  signed: ['start', 'submit', 'extend', 'cancel', 'assign', 'decide-extension'],
  rectifying: ['submit', 'extend', 'cancel', 'assign', 'decide-extension'],
  submitted: ['return', 'accept', 'cancel', 'assign', 'decide-extension'],
  bounced: ['assign', 'cancel'],
  closed: ['reopen'],
  cancelled: [],
};
const NEEDS_TEXT = new Set(['bounce', 'return', 'cancel', 'reopen', 'extend']);

function allowed(o) {
  const role = state.me?.role;
  const park = role === 'admin' || role === 'supervisor';
  const target = (role === 'enterprise' && o.enterprise === state.me.enterprise) || (role === 'department' && o.department);
  return (BY_STATE[o.state] || []).filter((a) => (park && PARK.includes(a)) || (target && TARGET.includes(a)))
    .filter((a) => a !== 'decide-extension' || o.extensions?.pending_ms > 0);
}

// "2小时13分" until the deadline, or how long it is overdue.
export function countdown(dueIso, now) {
  if (!dueIso) return '—';
  let ms = Date.parse(dueIso) - now;
  const late = ms < 0;
  ms = Math.abs(ms);
  const d = Math.floor(ms / 86400000), hh = Math.floor(ms / 3600000) % 24, mm = Math.floor(ms / 60000) % 60, ss = Math.floor(ms / 1000) % 60;
  const txt = d ? `${d}${t('wo.d')}${hh}${t('wo.h')}` : hh ? `${hh}${t('wo.h')}${mm}${t('wo.m')}` : `${mm}${t('wo.m')}${ss}${t('wo.s')}`;
  return late ? t('wo.overdueBy').replace('{t}', txt) : t('wo.left').replace('{t}', txt);
}

function levelClass(o, now) {
  if (o.overdue_level >= 2) return 'wo-red';
  if (o.overdue_level === 1) return 'wo-yellow';
  if (o.escalation_level === 0 || (o.due_at && Date.parse(o.due_at) - now < 3600000 && !['closed', 'cancelled'].includes(o.state))) return 'wo-blue';
  return '';
}

const unitName = (o) => (o.enterprise ? entName(o.enterprise) : (o.department || ''));

export default {
  props: { id: String },
  setup(props) {
    const list = ref([]), detail = ref(null), now = ref(Date.now()), err = ref('');
    const filter = reactive({ state: 'open', priority: '', overdue: '' });
    const form = reactive({ text: '', duration: '2d', assignee: '' });
    let timer = 0;
    const selected = () => props.id || '';
    async function load() {
      const q = new URLSearchParams();
      if (filter.state) q.set('state', filter.state);
      if (filter.priority) q.set('priority', filter.priority);
      if (filter.overdue) q.set('overdue', filter.overdue);
      q.set('limit', '500');
      try { list.value = await api(`/api/v1/workorders?${q}`); } catch (x) { err.value = x.message; }
      if (selected()) loadDetail();
    }
    async function loadDetail() {
      try { detail.value = await api(`/api/v1/workorders/${selected()}`); } catch (x) { detail.value = null; err.value = x.message; }
    }
    async function act(a) {
      err.value = '';
      const o = detail.value;
      const body = {};
      if (form.text.trim()) body.text = form.text.trim();
      if (NEEDS_TEXT.has(a) && !body.text) { err.value = t('wo.needText'); return; }
      if (a === 'extend') body.duration = form.duration;
      if (a === 'assign' && form.assignee.trim()) body.assignee = form.assignee.trim();
      try {
        detail.value = await api(`/api/v1/workorders/${o.id}/${a}`, { method: 'POST', json: body });
        form.text = '';
        toast(t(`wo.did.${a}`));
        load();
      } catch (x) { err.value = x.message; }
    }
    async function decide(approve) {
      try {
        detail.value = await api(`/api/v1/workorders/${detail.value.id}/decide-extension`, { method: 'POST', json: { approve } });
        load();
      } catch (x) { err.value = x.message; }
    }
    async function upload(e) {
      const f = e.target.files?.[0];
      if (!f) return;
      err.value = '';
      try {
        await api(`/api/v1/workorders/${detail.value.id}/evidence?filename=${encodeURIComponent(f.name)}`,
          { method: 'POST', body: f, headers: { 'Content-Type': f.type || 'application/octet-stream' } });
        toast(t('wo.uploaded'));
        loadDetail();
      } catch (x) { err.value = x.message; }
      e.target.value = '';
    }
    watch(() => props.id, (v) => { if (v) loadDetail(); else detail.value = null; });
    const onEvent = (ev) => {
      load();
    };
    onMounted(() => {
      load();
      timer = setInterval(() => { now.value = Date.now(); }, 1000);
      sse.woListeners.add(onEvent);
    });
    onBeforeUnmount(() => { clearInterval(timer); sse.woListeners.delete(onEvent); });

    const row = (o) => h('a', {
      class: ['wo-row', levelClass(o, now.value), String(o.id) === selected() ? 'sel' : ''], href: `#/workorders/${o.id}`,
      'data-order-id': o.id, 'data-state': o.state,
    }, [
      h('span', `#${o.id}`), h('span', { class: `wo-p wo-p${o.priority}` }, o.priority), h('span', { class: 'ell' }, o.title),
      h('span', unitName(o)), h('span', { class: 'wo-state' }, t(`wo.state.${o.state}`)),
      h('span', { class: 'wo-due', 'data-due': o.due_at }, ['closed', 'cancelled'].includes(o.state) ? fmtTime(o.closed_at, true) : countdown(o.due_at, now.value)),
      h('span', o.overdue_level ? h('b', { class: `wo-lv wo-lv${o.overdue_level}` }, `L${o.overdue_level}`) : ''),
    ]);

    const detailView = () => {
      const o = detail.value;
      if (!o) return h('div', { class: 'muted pad' }, t('wo.pick'));
      const acts = allowed(o);
      const ext = o.extensions || {};
      return h('div', { class: 'wo-detail', id: 'wo-detail', 'data-state': o.state }, [
        h('h3', [h('span', { class: `wo-p wo-p${o.priority}` }, o.priority), ' ', `#${o.id} ${o.title}`]),
        kv([[t('wo.stateL'), h('b', { id: 'wo-state' }, t(`wo.state.${o.state}`))], [t('wo.target'), unitName(o)],
          [t('wo.source'), t(`wo.src.${o.source}`) + (o.alarm_id ? ` · #${o.alarm_id}` : '')], [t('description'), o.description || '—'],
          [t('wo.dispatched'), `${fmtTime(o.dispatched_at, true)} · ${o.dispatcher}`],
          [t('wo.signDue'), `${fmtTime(o.sign_due_at, true)}${o.late_sign ? ' · ' + t('wo.lateSign') : ''}`],
          [t('wo.due'), h('span', { class: levelClass(o, now.value) }, `${fmtTime(o.due_at, true)} · ${['closed', 'cancelled'].includes(o.state) ? '' : countdown(o.due_at, now.value)}${o.paused ? ' · ' + t('wo.paused') : ''}`)],
          [t('wo.overdue'), o.overdue_level ? `L${o.overdue_level}` : '—'], [t('wo.returns'), String(o.returns)],
          [t('wo.ext'), ext.requested ? `${ext.requested} · ${ext.pending_ms ? t('wo.extPending') : ''}` : '—']]),
        acts.length || can.act() ? h('div', { class: 'actions', id: 'wo-actions' }, [
          h('div', { class: 'btnrow' }, acts.filter((a) => a !== 'decide-extension').map((a) => button(t(`wo.act.${a}`), () => act(a), { id: `wo-btn-${a}`, class: a === 'cancel' ? 'warn' : '' }))),
          acts.includes('decide-extension') ? h('div', { class: 'btnrow' }, [
            button(t('wo.approve'), () => decide(true), { id: 'wo-btn-approve' }), button(t('wo.refuse'), () => decide(false), { id: 'wo-btn-refuse', class: 'warn' })]) : null,
          h('div', { class: 'btnrow' }, [
            h('input', { id: 'wo-text', value: form.text, placeholder: t('wo.textPh'), onInput: (e) => { form.text = e.target.value; } }),
            acts.includes('extend') ? select(form.duration, [['4h', '4h'], ['1d', '1d'], ['2d', '2d'], ['7d', '7d']], (v) => { form.duration = v; }) : null,
            acts.includes('assign') ? h('input', { value: form.assignee, placeholder: t('assigneePh'), onInput: (e) => { form.assignee = e.target.value; } }) : null,
            can.act() ? button(t('wo.act.comment'), () => act('comment'), { id: 'wo-btn-comment' }) : null]),
          can.act() && !['closed', 'cancelled'].includes(o.state) ? h('label', { class: 'btnrow' }, [h('span', t('wo.evidence')),
            h('input', { type: 'file', id: 'wo-file', accept: 'image/jpeg,image/png,image/webp,application/pdf', onChange: upload })]) : null,
          err.value ? h('p', { class: 'error', role: 'alert', id: 'wo-error' }, err.value) : null,
        ]) : null,
        h('h4', t('wo.evidence')),
        h('div', { class: 'wo-evidence', id: 'wo-evidence' }, (o.evidence || []).map((e) => {
          const url = `/api/v1/workorders/${o.id}/evidence/${e.sha256}`;
          return h('a', { href: url, target: '_blank', class: 'wo-ev', 'data-sha': e.sha256, title: e.sha256 },
            e.content_type.startsWith('image/') ? h('img', { src: url, alt: e.filename || e.sha256.slice(0, 12) }) : h('span', `📄 ${e.filename || 'PDF'}`));
        })),
        h('h4', t('history')),
        h('ol', { class: 'history', id: 'wo-history' }, (o.history || []).slice().reverse().map((x) => h('li', [
          h('span', { class: 'muted' }, fmtTime(x.at, true)), ' ', h('b', t(`wo.hist.${x.action}`) !== `wo.hist.${x.action}` ? t(`wo.hist.${x.action}`) : x.action),
          ' · ', x.user, x.detail ? ` · ${x.detail}` : '', x.text ? ` · ${x.text}` : '']))),
      ]);
    };

    return () => h('div', { class: 'page wo-page', id: 'workorders' }, [
      h('div', { class: 'page-h' }, [h('h1', t('wo.inbox')),
        h('div', { class: 'filters' }, [
          select(filter.state, [['open', t('wo.open')], ['', t('allStates')], ...Object.keys(BY_STATE).map((s) => [s, t(`wo.state.${s}`)])], (v) => { filter.state = v; load(); }, { id: 'wo-filter-state' }),
          select(filter.priority, [['', t('wo.allPrio')], ['P1', 'P1'], ['P2', 'P2'], ['P3', 'P3'], ['P4', 'P4']], (v) => { filter.priority = v; load(); }),
          select(filter.overdue, [['', t('wo.anyOverdue')], ['true', t('wo.onlyOverdue')]], (v) => { filter.overdue = v; load(); }),
          h('a', { href: '#/board', class: 'link' }, t('wo.board'))])]),
      h('div', { class: 'wo-split' }, [
        panel(`${t('wo.inbox')} (${list.value.length})`, h('div', { class: 'wo-list', id: 'wo-list' },
          list.value.length ? list.value.map(row) : h('div', { class: 'muted pad' }, t('wo.none')))),
        panel(t('wo.detail'), detailView()),
      ]),
    ]);
  },
};

// Dispatch an order from an alarm in one click (the alarm console's button).
export async function dispatchFromAlarm(alarmId) {
  try {
    const o = await api('/api/v1/workorders', { method: 'POST', json: { alarm_id: alarmId } });
    toast(t('wo.dispatched1'));
    navigate(`#/workorders/${o.id}`);
  } catch (x) {
    if (x.status === 409) toast(t('wo.exists'));
    else toast(x.message);
  }
}

// The red-yellow-blue board (红黄蓝督办): unit, colour, rank and change — no order details.
export const BoardView = {
  setup() {
    const board = ref(null);
    let timer = 0;
    const load = async () => { try { board.value = await api('/api/v1/board?public=1'); } catch { /* keep the last */ } };
    onMounted(() => { load(); timer = setInterval(load, 30000); sse.woListeners.add(load); });
    onBeforeUnmount(() => { clearInterval(timer); sse.woListeners.delete(load); });
    return () => h('div', { class: 'page board-page', id: 'board' }, [
      h('div', { class: 'page-h' }, h('h1', t('wo.boardTitle'))),
      h('p', { class: 'muted small' }, t('wo.boardRule')),
      h('div', { class: 'board-grid' }, (board.value?.units || []).map((u) => h('div', { class: ['board-card', `board-${u.colour}`], 'data-unit': u.unit, 'data-colour': u.colour }, [
        h('span', { class: 'board-rank' }, String(u.rank)), h('b', u.name || u.unit),
        h('span', { class: 'board-colour' }, t(`wo.colour.${u.colour}`)),
        h('span', { class: 'board-change' }, u.rank_change > 0 ? `▲${u.rank_change}` : u.rank_change < 0 ? `▼${-u.rank_change}` : '—'),
        u.listed ? h('span', { class: 'board-listed', title: t('ls.title') }, t('ls.badge')) : null,
      ]))),
    ]);
  },
};
