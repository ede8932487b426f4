// 设备与接入: the status of every device (virtualised list), and the quarantined unknown HJ 212
// stations and JT/T 808 terminals with a one-click path to register them in the park model, and
// (park roles) the terminals' registrations with the reset action (a replaced terminal, or one
// that lost its auth code, may register once more; the reason is recorded).
import { h, ref, shallowRef, reactive, computed, onMounted, onBeforeUnmount } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, can, fmtTime, fmtAgo, shortName, entName, toast, loadModel } from './core.js';
import { VList, panel, onlineBadge, select, button } from './ui.js';
import { kindCounts } from './screen.js';

export default {
  name: 'DevicesView',
  setup() {
    const status = shallowRef(null);
    const quarantine = shallowRef([]);
    const terminals = shallowRef({ terminals: [], quarantine: [] });
    const rst = reactive({ phone: '', reason: '', err: '' });
    const f = reactive({ kind: '', ent: '', st: '', text: '' });
    const reg = reactive({ open: false, proto: 'hj212', key: '', id: '', name: '', enterprise: '', kind: 'env_station', plate: '', err: '' });
    let timer = 0;

    async function load() {
      try { status.value = await api('/api/v1/ui/device-status'); } catch { /* keep */ }
      if (can.park()) {
        try { quarantine.value = await api('/api/v1/hj212/quarantine'); } catch { quarantine.value = []; }
      }
      try { terminals.value = await api('/api/v1/jt808/terminals'); } catch { /* keep */ }
    }
    onMounted(() => { load(); timer = setInterval(load, 15000); });
    onBeforeUnmount(() => clearInterval(timer));

    const st = computed(() => new Map((status.value?.devices || []).map((d) => [d.id, d])));
    const rows = computed(() => {
      void lang.value;
      const q = f.text.trim().toLowerCase();
      return model.devices.filter((d) => (!f.kind || d.kind === f.kind) && (!f.ent || (d.enterprise || '-') === f.ent) &&
        (!q || d.id.toLowerCase().includes(q) || d.name.includes(f.text.trim())) &&
        (!f.st || (() => { const s = st.value.get(d.id); const v = !s ? 'none' : s.online ? 'online' : s.last_seen == null ? 'never' : 'offline'; return v === f.st; })()));
    });

    function openRegister(proto, key, extra = {}) {
      Object.assign(reg, { open: true, proto, key, err: '', id: proto === 'hj212' ? `NEW-${key.slice(-6)}` : `V-${key.slice(-4)}`, name: '', enterprise: state.me?.enterprise || '',
        kind: proto === 'hj212' ? 'env_station' : 'vehicle_terminal', plate: '', ...extra });
    }
    async function register() {
      reg.err = '';
      const body = { version: 1 };
      if (reg.proto === 'hj212') {
        body.devices = [{ id: reg.id, name: reg.name || reg.id, kind: reg.kind, protocol: 'hj212', hj212: { mn: reg.key }, ...(reg.enterprise ? { enterprise: reg.enterprise } : {}) }];
      } else {
        body.vehicles = [{ id: reg.id, plate: reg.plate || reg.id, terminal_phone: reg.key, ...(reg.enterprise ? { enterprise: reg.enterprise } : {}) }];
      }
      try {
        await api('/api/v1/model/import', { method: 'POST', json: body });
        reg.open = false;
        toast(t('registered'));
        await loadModel();
        load();
      } catch (e) { reg.err = e.message; }
    }

    async function resetTerminal() {
      rst.err = '';
      if (!rst.reason.trim()) { rst.err = t('resetRequired'); return; }
      try {
        await api(`/api/v1/jt808/terminals/${encodeURIComponent(rst.phone)}/reset`, { method: 'POST', json: { reason: rst.reason.trim() } });
        rst.phone = '';
        toast(t('resetDone'));
        load();
      } catch (e) { rst.err = e.message; }
    }

    return () => {
      void lang.value;
      const terms = terminals.value.terminals || [];
      const by = kindCounts(status.value);
      const kinds = [...new Set(model.devices.map((d) => d.kind))];
      const inp = (k, ph) => h('input', { value: reg[k], placeholder: ph, onInput: (e) => { reg[k] = e.target.value; } });
      return h('div', { class: 'page dev-page', id: 'devices-page' }, [
        h('div', { class: 'page-h' }, [h('h1', t('nav.devices')), h('span', { class: 'muted' }, `${rows.value.length}/${model.devices.length}`)]),
        h('div', { class: 'stats' }, [...by.entries()].map(([k, c]) => h('div', { class: 'stat' }, [h('b', `${c.online}/${c.online + c.offline + c.never}`), `${t(`kind.${k}`)} ${t('online')}`]))),
        h('div', { class: 'grid-2-1' }, [
          panel(t('deviceList'), [
            h('div', { class: 'filters' }, [
              select(f.kind, [['', t('allKinds')], ...kinds.map((k) => [k, t(`kind.${k}`)])], (v) => { f.kind = v; }),
              state.me?.enterprise ? null : select(f.ent, [['', t('allEnterprises')], ['-', t('parkOwned')], ...model.enterprises.map((e) => [e.id, shortName(e.name)])], (v) => { f.ent = v; }),
              select(f.st, [['', t('allStates')], ['online', t('online')], ['offline', t('offline')], ['never', t('noDataYet')], ['none', t('noPoints')]], (v) => { f.st = v; }),
              h('input', { placeholder: t('filterPh'), value: f.text, onInput: (e) => { f.text = e.target.value; } }),
            ]),
            h(VList, {
              items: rows.value, rowHeight: 32, cls: 'dev-list',
              header: h('div', { class: 'drow ahead' }, [h('span', 'ID'), h('span', t('name')), h('span', t('kindLabel')), h('span', t('enterprise')), h('span', t('protocol')), h('span', t('status')), h('span', t('lastSeen'))]),
              row: (d) => {
                const s = st.value.get(d.id);
                return h('a', { class: 'drow', href: `#/device/${encodeURIComponent(d.id)}` }, [
                  h('span', { class: 'ell' }, d.id), h('span', { class: 'ell' }, d.name), h('span', t(`kind.${d.kind}`)), h('span', { class: 'ell' }, shortName(entName(d.enterprise))),
                  h('span', d.protocol || '—'), h('span', s ? onlineBadge(s.online, s.last_seen == null) : h('span', { class: 'muted' }, t('noPoints'))),
                  h('span', s?.last_seen ? fmtAgo(s.last_seen) : '—'),
                ]);
              },
            }),
          ], null, 'grow'),
          h('div', [
            panel(`${t('quarantineHj212')} (${quarantine.value.length})`, h('table', { class: 'tbl compact', id: 'quarantine' }, [
              h('thead', h('tr', [h('th', 'MN'), h('th', t('peer')), h('th', t('lastSeen')), h('th', t('frames')), can.admin() ? h('th', '') : null])),
              h('tbody', quarantine.value.length ? quarantine.value.map((q) => h('tr', { key: q.mn }, [h('td', h('code', q.mn)), h('td', q.peer || ''), h('td', fmtTime(q.last_seen_at, true)), h('td', q.frames),
                can.admin() ? h('td', button(t('register'), () => openRegister('hj212', q.mn), { class: 'small', 'data-mn': q.mn })) : null])) : [h('tr', h('td', { colspan: 5, class: 'muted' }, t('noQuarantine')))]),
            ])),
            panel(`${t('quarantineJt808')} (${(terminals.value.quarantine || []).length})`, h('table', { class: 'tbl compact' }, [
              h('thead', h('tr', [h('th', t('phone')), h('th', t('plate')), h('th', t('lastSeen')), can.admin() ? h('th', '') : null])),
              h('tbody', (terminals.value.quarantine || []).length ? terminals.value.quarantine.map((q) => h('tr', { key: q.phone }, [h('td', h('code', q.phone)), h('td', q.plate || ''), h('td', fmtTime(q.last_seen_at, true)),
                can.admin() ? h('td', button(t('register'), () => openRegister('jt808', q.phone, { plate: q.plate || '' }), { class: 'small' })) : null])) : [h('tr', h('td', { colspan: 4, class: 'muted' }, t('noQuarantine')))]),
            ])),
            can.park() ? panel(`${t('jtTerminals')} (${terms.length})`, [
              h('table', { class: 'tbl compact', id: 'jt-terminals' }, [
                h('thead', h('tr', [h('th', t('phone')), h('th', t('plate')), h('th', t('status')), h('th', t('refusedRegs')), h('th', '')])),
                h('tbody', terms.length ? terms.map((x) => h('tr', { key: x.phone }, [h('td', h('code', x.phone)), h('td', x.plate || x.vehicle || ''),
                  h('td', x.authenticated ? t('authed') : x.connected ? t('online') : t('offline')), h('td', String(x.registrations_refused || 0)),
                  h('td', button(t('resetReg'), () => Object.assign(rst, { phone: x.phone, reason: '', err: '' }), { class: 'small', 'data-phone': x.phone }))]))
                  : [h('tr', h('td', { colspan: 5, class: 'muted' }, t('noTerminals')))]),
              ]),
              rst.phone ? h('div', { class: 'form', id: 'reset-form' }, [
                h('p', { class: 'muted' }, `${t('phone')}: ${rst.phone} — ${t('resetHint')}`),
                h('label', [t('resetReason'), h('input', { value: rst.reason, id: 'reset-reason', onInput: (e) => { rst.reason = e.target.value; } })]),
                h('div', { class: 'btnrow' }, [button(t('resetReg'), resetTerminal, { id: 'btn-reset' }), button(t('cancel'), () => { rst.phone = ''; }, { class: 'ghost' })]),
                rst.err ? h('p', { class: 'error', role: 'alert' }, rst.err) : null,
              ]) : null,
            ]) : null,
            reg.open ? panel(t('registerDevice'), h('div', { class: 'form', id: 'register-form' }, [
              h('p', { class: 'muted' }, `${reg.proto === 'hj212' ? 'MN' : t('phone')}: ${reg.key}`),
              h('label', [t('id'), inp('id', 'E01-AQ-02')]),
              reg.proto === 'hj212' ? h('label', [t('name'), inp('name', t('namePh'))]) : h('label', [t('plate'), inp('plate', '鲁C00000')]),
              h('label', [t('enterprise'), select(reg.enterprise, [['', t('parkOwned')], ...model.enterprises.map((e) => [e.id, shortName(e.name)])], (v) => { reg.enterprise = v; })]),
              h('div', { class: 'btnrow' }, [button(t('register'), register, { id: 'btn-register' }), button(t('cancel'), () => { reg.open = false; }, { class: 'ghost' })]),
              reg.err ? h('p', { class: 'error', role: 'alert' }, reg.err) : null,
            ])) : null,
          ]),
        ]),
      ]);
    };
  },
};
