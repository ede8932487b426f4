// The one place where the UI builds HTML from strings. Vue's h() writes text and attributes
// safely by itself; the exceptions are ECharts tooltip formatters, whose return value ECharts
// puts into the DOM as HTML. Everything interpolated there — device and point names, plates,
// enterprise names, units, even our own translations — goes through esc(), most simply by
// writing the formatter as an html`` template:
//
//     tooltip: { formatter: (p) => html`${p.name}<br>${t('speed')}: ${p.value[2]} km/h` }
//
// Only the literal parts of the template stay markup. (ECharts' default tooltips encode names and
// valueFormatter results themselves; canvas labels are not HTML.)

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

// HTML-escapes any value (null/undefined → '').
export function esc(v) {
  return String(v ?? '').replace(/[&<>"'`]/g, (c) => ENTITIES[c]);
}

// Tagged template: the literal parts as written, every ${value} escaped.
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += esc(values[i]) + strings[i + 1];
  return out;
}
