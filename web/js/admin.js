// 系统管理 (admin only): users and roles, and the model import (JSON or CSV ledgers) with the
// server's error message shown as it names the offending place.
import { h, ref, shallowRef, reactive, onMounted } from '/vendor/vue.esm-browser.prod.js';
import { t, lang } from '../i18n.js';
import { state, model, api, fmtTime, shortName, toast, loadModel } from './core.js';
import { panel, select, button } from './ui.js';

const ROLES = ['admin', 'supervisor', 'enterprise', 'viewer'];

export default {
  name: 'AdminView',
  setup() {
    const users = shallowRef([]);
    const u = reactive({ name: '', display_name: '', password: '', role: 'viewer', enterprise: '', err: '' });
    const imp = reactive({ kind: 'json', replace: false, text: '', err: '', ok: '' });

    async function load() { try { users.value = await api('/api/v1/users'); } catch (e) { toast(e.message); } }
    onMounted(load);

    async function addUser() {
      u.err = '';
      const body = { name: u.name, password: u.password, role: u.role, display_name: u.display_name || u.name };
      if (u.role === 'enterprise') body.enterprise = u.enterprise;
      try {
        await api('/api/v1/users', { method: 'POST', json: body });
        Object.assign(u, { name: '', display_name: '', password: '' });
        toast(t('saved'));
        load();
      } catch (e) { u.err = e.message; }
    }
    async function delUser(name) {
      if (!confirm(`${t('deleteUser')} ${name}?`)) return;
      try { await api(`/api/v1/users/${encodeURIComponent(name)}`, { method: 'DELETE' }); load(); } catch (e) { toast(e.message); }
    }
    async function doImport() {
      imp.err = ''; imp.ok = '';
      const q = imp.kind === 'json' ? (imp.replace ? '?replace=1' : '') : `?csv=${imp.kind}`;
      try {
        await api(`/api/v1/model/import${q}`, { method: 'POST', body: imp.text, headers: { 'Content-Type': imp.kind === 'json' ? 'application/json' : 'text/csv' } });
        imp.ok = t('importOk');
        await loadModel();
      } catch (e) { imp.err = e.message; }
    }
    async function pickFile(e) {
      const file = e.target.files[0];
      if (!file) return;
      imp.text = await file.text();
      if (/\.csv$/i.test(file.name) && imp.kind === 'json') imp.kind = 'devices';
    }

    return () => {
      void lang.value;
      const inp = (k, ph, type = 'text') => h('input', { type, value: u[k], placeholder: ph, name: `u-${k}`, onInput: (e) => { u[k] = e.target.value; } });
      return h('div', { class: 'page admin-page', id: 'admin-page' }, [
        h('div', { class: 'page-h' }, h('h1', t('nav.admin'))),
        h('div', { class: 'grid-1-1' }, [
          panel(t('users'), [
            h('table', { class: 'tbl', id: 'users' }, [
              h('thead', h('tr', [h('th', t('user')), h('th', t('displayName')), h('th', t('role')), h('th', t('enterprise')), h('th', t('lastLogin')), h('th', '')])),
              h('tbody', users.value.map((x) => h('tr', { key: x.name }, [h('td', x.name), h('td', x.display_name || ''), h('td', t(`roles.${x.role}`)),
                h('td', x.enterprise ? shortName(model.ent.get(x.enterprise)?.name || x.enterprise) : '—'), h('td', fmtTime(x.last_login_at, true)),
                h('td', x.name !== state.me?.user ? button(t('delete'), () => delUser(x.name), { class: 'ghost small' }) : null)]))),
            ]),
            h('h4', t('addUser')),
            h('div', { class: 'form inline-form', id: 'user-form' }, [
              inp('name', t('user')), inp('display_name', t('displayName')), inp('password', t('password'), 'password'),
              select(u.role, ROLES.map((r) => [r, t(`roles.${r}`)]), (v) => { u.role = v; }),
              u.role === 'enterprise' ? select(u.enterprise, [['', t('pickEnterprise')], ...model.enterprises.map((e) => [e.id, shortName(e.name)])], (v) => { u.enterprise = v; }) : null,
              button(t('add'), addUser),
            ]),
            u.err ? h('p', { class: 'error', role: 'alert' }, u.err) : null,
          ]),
          panel(t('modelImport'), h('div', { class: 'form', id: 'import-form' }, [
            h('div', { class: 'btnrow' }, [
              select(imp.kind, [['json', t('imp.json')], ['devices', t('imp.devices')], ['points', t('imp.points')]], (v) => { imp.kind = v; }),
              imp.kind === 'json' ? h('label', { class: 'inl' }, [h('input', { type: 'checkbox', checked: imp.replace, onChange: (e) => { imp.replace = e.target.checked; } }), t('replaceAll')]) : null,
              h('input', { type: 'file', accept: '.json,.csv,application/json,text/csv', onChange: pickFile }),
            ]),
            h('textarea', { rows: 16, value: imp.text, placeholder: imp.kind === 'json' ? '{"version": 1, "devices": [...]}' : 'id,name,kind,enterprise,...', onInput: (e) => { imp.text = e.target.value; } }),
            h('div', { class: 'btnrow' }, [button(t('import'), doImport, { id: 'btn-import', disabled: !imp.text.trim() }),
              h('a', { href: '/api/v1/model/export', download: 'park.json', class: 'muted' }, t('exportModel'))]),
            imp.err ? h('pre', { class: 'error', role: 'alert', id: 'import-error' }, imp.err) : null,
            imp.ok ? h('p', { class: 'q-good' }, imp.ok) : null,
          ])),
        ]),
      ]);
    };
  },
};
