// parkwatch web dashboard: the shell (login, navigation, connection banner, language and sound
// switches) and a router on location.hash. Vue 3 with render functions (no template compiler:
// the CSP allows no eval), Apache ECharts for charts and the map; both vendored as ES modules.
import { createApp, h, ref, watch } from '/vendor/vue.esm-browser.prod.js';
import { t, lang, setLang } from './i18n.js';
import { state, model, api, sse, loadModel, reloadOpenAlarms, can, setMuted, navigate, beep } from './js/core.js';
import ScreenView from './js/screen.js';
import AlarmsView from './js/alarms.js';
import PointView from './js/point.js';
import EnterpriseView from './js/enterprise.js';
import EnvView from './js/env.js';
import VehiclesView from './js/vehicles.js';
import DevicesView from './js/devices.js';
import AdminView from './js/admin.js';
import WorkOrdersView, { BoardView } from './js/workorders.js';
import HazardsView from './js/hazards.js';
import ReportView from './js/report.js';
import IncidentsView, { DrillView } from './js/incidents.js';
import PermitsView from './js/permits.js';

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path] = raw.split('?');
  const [name, ...rest] = path.split('/');
  state.route = { name: name || '', arg: decodeURIComponent(rest.join('/')) };
}
window.addEventListener('hashchange', parseRoute);
parseRoute();

// Where a principal lands: enterprise users on their enterprise, others on the big screen.
const home = () => (state.me?.enterprise ? `#/enterprise/${state.me.enterprise}` : '#/screen');

async function start() {
  try { state.me = await api('/api/v1/me'); } catch { state.me = null; return; }
  if (!state.me || !state.me.user) { state.me = null; return; }
  await loadModel();
  await reloadOpenAlarms();
  sse.start();
  if (!state.route.name) navigate(home());
}

const Login = {
  setup() {
    const user = ref(''), password = ref(''), err = ref(''), busy = ref(false);
    async function submit(e) {
      e.preventDefault();
      busy.value = true;
      err.value = '';
      try {
        await api('/api/v1/login', { method: 'POST', json: { user: user.value, password: password.value } });
        password.value = '';
        await start();
      } catch (x) { err.value = x.status === 429 ? t('tooMany') : x.status === 401 ? t('badLogin') : x.message; }
      busy.value = false;
    }
    return () => h('div', { class: 'login-wrap' }, h('section', { class: 'card login', id: 'login-view' }, [
      h('div', { class: 'login-brand' }, [h('span', { class: 'logo' }, '◆'), ' ', t('title')]),
      h('h1', t('login')),
      h('form', { id: 'login-form', onSubmit: submit }, [
        h('label', [h('span', t('user')), h('input', { name: 'user', autocomplete: 'username', required: true, value: user.value, onInput: (e) => { user.value = e.target.value; } })]),
        h('label', [h('span', t('password')), h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, value: password.value, onInput: (e) => { password.value = e.target.value; } })]),
        h('button', { type: 'submit', disabled: busy.value }, t('signin')),
        h('p', { class: 'error', id: 'login-error', role: 'alert' }, err.value),
      ]),
    ]));
  },
};

const NAV = [
  ['screen', 'nav.screen', () => !state.me?.enterprise],
  ['alarms', 'nav.alarms', () => true],
  ['workorders', 'nav.workorders', () => true],
  ['board', 'nav.board', () => true],
  ['hazards', 'nav.hazards', () => true],
  ['report', 'nav.report', () => can.park()],
  ['permits', 'nav.permits', () => true],
  ['incidents', 'nav.incidents', () => true],
  ['drill', 'nav.drill', () => true],
  ['enterprise', 'nav.enterprise', () => true],
  ['env', 'nav.env', () => true],
  ['vehicles', 'nav.vehicles', () => true],
  ['devices', 'nav.devices', () => true],
  ['admin', 'nav.admin', () => can.admin()],
];

const App = {
  setup() {
    const flash = ref(false);
    watch(() => state.flash, () => { flash.value = true; setTimeout(() => { flash.value = false; }, 6000); });
    watch(() => state.me, (m, old) => { if (!m && old) { sse.stop(); } });
    async function logout() {
      try { await api('/api/v1/logout', { method: 'POST' }); } catch { /* gone anyway */ }
      sse.stop();
      state.me = null;
      state.ready = false;
      navigate('#/');
    }
    function view() {
      const r = state.route;
      const ent = state.me?.enterprise;
      switch (r.name) {
        case 'screen': return ent ? h('div', { class: 'page' }, h('div', { class: 'empty-page', id: 'no-access' }, t('noAccess'))) : h(ScreenView);
        case 'alarms': return h(AlarmsView, { key: location.hash.includes('?') ? 'q' : 'p' });
        case 'point': return h(PointView, { id: r.arg, key: `p-${r.arg}` });
        case 'device': return h(PointView, { id: r.arg, device: true, key: `d-${r.arg}` });
        case 'enterprise': {
          if (!r.arg) {
            if (ent) { navigate(`#/enterprise/${ent}`); return null; }
            return h('div', { class: 'page' }, [h('div', { class: 'page-h' }, h('h1', t('nav.enterprise'))),
              h('div', { class: 'ent-grid', id: 'enterprise-list' }, model.enterprises.map((e) => h('a', { class: 'ent-card', href: `#/enterprise/${e.id}`, 'data-id': e.id }, [
                h('b', e.name), h('span', { class: 'muted' }, e.industry || ''),
                h('span', { class: 'small muted' }, `${model.devices.filter((d) => d.enterprise === e.id).length} ${t('devicesUnit')} · ${model.installations.filter((i) => i.enterprise === e.id && i.major_hazard).length} ${t('hazardUnit')}`)])))]);
          }
          return h(EnterpriseView, { id: r.arg, key: r.arg });
        }
        case 'workorders': return h(WorkOrdersView, { id: r.arg, key: 'wo' });
        case 'board': return h(BoardView);
        case 'hazards': return h(HazardsView);
        case 'report': return h(ReportView);
        case 'incidents': return h(IncidentsView, { id: r.arg, key: 'inc' });
        case 'drill': return h(DrillView);
        case 'permits': return h(PermitsView, { id: r.arg, key: 'pt' });
        case 'env': return h(EnvView);
        case 'vehicles': return h(VehiclesView);
        case 'devices': return h(DevicesView);
        case 'admin': return can.admin() ? h(AdminView) : h('div', { class: 'page' }, h('div', { class: 'empty-page', id: 'no-access' }, t('noAccess')));
        default: navigate(home()); return null;
      }
    }
    return () => {
      void lang.value;
      document.title = `parkwatch · ${t('title')}`;
      if (!state.me) return h(Login);
      if (!state.ready) return h('div', { class: 'boot' }, t('loading'));
      const big = state.route.name === 'screen';
      return h('div', { class: ['shell', big ? 'shell-screen' : ''] }, [
        h('header', { class: 'top' }, [
          h('div', { class: 'brand' }, [h('span', { class: 'logo' }, '◆'), ' ', h('span', { id: 'brand-title' }, t('title'))]),
          h('nav', { class: 'nav', id: 'nav' }, NAV.filter(([, , ok]) => ok()).map(([name, key]) => h('a', {
            href: name === 'enterprise' && state.me.enterprise ? `#/enterprise/${state.me.enterprise}` : `#/${name}`,
            class: state.route.name === name || (name === 'devices' && state.route.name === 'device') ? 'on' : '', 'data-nav': name,
          }, t(key)))),
          h('div', { class: 'tools' }, [
            h('span', { class: ['conn', `conn-${state.conn}`], id: 'conn', title: t(`conn.${state.conn}`) }, t(`conn.${state.conn}`)),
            h('button', { type: 'button', class: 'link', id: 'mute', title: t('muteTitle'), onClick: () => { setMuted(!state.muted); if (!state.muted) beep(); } }, state.muted ? t('soundOff') : t('soundOn')),
            h('button', { type: 'button', class: 'link', id: 'lang', onClick: () => setLang(lang.value === 'en' ? 'zh-CN' : 'en') }, t('switchLang')),
            h('span', { class: 'who', id: 'who' }, `${state.me.user} · ${t(`roles.${state.me.role}`)}${state.me.enterprise ? ' · ' + state.me.enterprise : ''}${state.me.department ? ' · ' + state.me.department : ''}`),
            h('button', { type: 'button', class: 'link', id: 'logout', onClick: logout }, t('logout')),
          ]),
        ]),
        state.conn === 'lost' ? h('div', { class: 'banner banner-lost', id: 'conn-banner', role: 'alert' }, t('connLost')) : null,
        flash.value ? h('div', { class: 'banner banner-alarm', id: 'alarm-banner', role: 'alert', onClick: () => navigate('#/alarms') }, t('newSevere')) : null,
        state.toast ? h('div', { class: 'toast', id: 'toast' }, state.toast) : null,
        h('main', { class: 'main' }, view()),
      ]);
    };
  },
};

setLang(lang.value);
createApp(App).mount('#app');
start();
