// Small reusable components written with render functions (the CSP forbids the in-browser template
// compiler): an ECharts wrapper, a virtualised list, panels, badges.
import { h, ref, onMounted, onBeforeUnmount, watch, defineComponent } from '/vendor/vue.esm-browser.prod.js';
import * as echarts from '/vendor/echarts.esm.min.mjs';
import { t } from '../i18n.js';

export { echarts };

// <Chart :option="..." />: setOption whenever the option object changes (notMerge unless merge).
export const Chart = defineComponent({
  name: 'Chart',
  props: { option: Object, merge: Boolean, onEvents: Object, cls: String },
  setup(props, { expose }) {
    const el = ref(null);
    let chart = null, ro = null;
    const bind = () => {
      for (const [name, fn] of Object.entries(props.onEvents || {})) chart.on(name, fn);
    };
    onMounted(() => {
      chart = echarts.init(el.value, null, { renderer: 'canvas' });
      if (props.option) chart.setOption(props.option, !props.merge);
      bind();
      ro = new ResizeObserver(() => chart && chart.resize());
      ro.observe(el.value);
    });
    watch(() => props.option, (o) => { if (chart && o) chart.setOption(o, { notMerge: !props.merge, lazyUpdate: true }); });
    onBeforeUnmount(() => { ro?.disconnect(); chart?.dispose(); chart = null; });
    expose({ chart: () => chart });
    return () => h('div', { ref: el, class: ['chart', props.cls] });
  },
});

// A virtualised list: fixed row height, only the visible rows (plus a margin) are rendered.
// props: items (array), rowHeight, row (item, index) => vnode, header (vnode), height (css)
export const VList = defineComponent({
  name: 'VList',
  props: { items: Array, rowHeight: { type: Number, default: 32 }, row: Function, header: Object,
    cls: String, empty: String },
  setup(props) {
    const box = ref(null);
    const top = ref(0);
    const height = ref(600);
    let ro = null;
    onMounted(() => {
      height.value = box.value.clientHeight || 600;
      ro = new ResizeObserver(() => { if (box.value) height.value = box.value.clientHeight || 600; });
      ro.observe(box.value);
    });
    onBeforeUnmount(() => ro?.disconnect());
    return () => {
      const items = props.items || [];
      const rh = props.rowHeight;
      const first = Math.max(0, Math.floor(top.value / rh) - 5);
      const last = Math.min(items.length, Math.ceil((top.value + height.value) / rh) + 5);
      const rows = [];
      for (let i = first; i < last; i++) {
        rows.push(h('div', { class: 'vrow', key: i, style: { top: `${i * rh}px`, height: `${rh}px` } },
          props.row(items[i], i)));
      }
      return h('div', { class: ['vlist', props.cls] }, [
        props.header ? h('div', { class: 'vhead' }, props.header) : null,
        h('div', { class: 'vbody', ref: box, onScroll: (e) => { top.value = e.target.scrollTop; } }, [
          items.length ? null : h('div', { class: 'muted pad' }, props.empty || t('noData')),
          h('div', { class: 'vspace', style: { height: `${items.length * rh}px` } }, rows),
        ]),
      ]);
    };
  },
});

export function panel(title, body, extra, cls) {
  return h('section', { class: ['panel', cls] }, [
    h('header', { class: 'panel-h' }, [h('h2', title), extra ? h('div', { class: 'panel-x' }, extra) : null]),
    h('div', { class: 'panel-b' }, body),
  ]);
}

export function levelBadge(level) {
  return h('span', { class: ['lv', `lv-${level || 'none'}`] }, t(`level.${level || 'none'}`));
}
export function stateBadge(s) {
  return h('span', { class: ['st', `st-${s}`] }, t(`state.${s}`));
}
export function onlineBadge(on, never) {
  return h('span', { class: ['dot', never ? 'dot-never' : on ? 'dot-on' : 'dot-off'] },
    t(never ? 'noDataYet' : on ? 'online' : 'offline'));
}

export function select(value, options, onChange, attrs = {}) {
  return h('select', { value, onChange: (e) => onChange(e.target.value), ...attrs },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

export function button(label, onClick, attrs = {}) {
  return h('button', { type: 'button', onClick, ...attrs }, label);
}

export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [h('dt', k), h('dd', v)]));
}

// A common dark theme fragment for charts.
export const axisStyle = {
  axisLine: { lineStyle: { color: '#35597f' } },
  axisLabel: { color: '#8fb0d3' },
  splitLine: { lineStyle: { color: '#1a3454' } },
};
export const tooltip = { trigger: 'axis', backgroundColor: '#0d2137ee', borderColor: '#2b5a8a', textStyle: { color: '#dbe7f5' } };
