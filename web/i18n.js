// UI strings: Chinese first, English on request. Keys are used by data-i18n attributes and t().
export const messages = {
  'zh-CN': {
    title: '园区智慧监管平台', login: '登录', user: '用户名', password: '密码', signin: '登录',
    logout: '退出', map: '园区一张图', enterprises: '企业', name: '名称', industry: '行业',
    devices: '设备', hazards: '重大危险源', badLogin: '用户名或密码错误', tooMany: '登录失败次数过多，请稍后再试',
    stEnterprises: '入园企业', stDevices: '监测设备', stPoints: '监测点位', stVehicles: '危化品车辆',
    stHazards: '重大危险源', switchLang: 'English', roles: { admin: '管理员', supervisor: '监管人员', enterprise: '企业用户', viewer: '只读' },
  },
  en: {
    title: 'Park Supervision Platform', login: 'Sign in', user: 'User', password: 'Password', signin: 'Sign in',
    logout: 'Sign out', map: 'Park map', enterprises: 'Enterprises', name: 'Name', industry: 'Industry',
    devices: 'Devices', hazards: 'Major hazards', badLogin: 'Wrong user name or password', tooMany: 'Too many failed logins; try again later',
    stEnterprises: 'Enterprises', stDevices: 'Devices', stPoints: 'Points', stVehicles: 'Hazmat vehicles',
    stHazards: 'Major hazard sources', switchLang: '中文', roles: { admin: 'admin', supervisor: 'supervisor', enterprise: 'enterprise', viewer: 'viewer' },
  },
};

let lang = localStorage.getItem('pw_lang') || 'zh-CN';
export const getLang = () => lang;
export function setLang(l) { lang = l; localStorage.setItem('pw_lang', l); document.documentElement.lang = l; }
export function t(key) { return messages[lang][key] ?? messages['zh-CN'][key] ?? key; }
export function apply(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}
