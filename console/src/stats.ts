// 統計: response times (/stats/response-times) drawn as SVG bar and line charts.

import { ApiError, get, qs } from './api';
import type { Ctx } from './context';
import { t } from './i18n';
import { clear, fmtDuration, h } from './ui';

interface Summary {
  count: number;
  median_s: number;
  p90_s: number;
  mean_s: number;
}
interface Stats {
  incidents: number;
  call_to_dispatch: Summary | null;
  dispatch_to_arrival: Summary | null;
  inconsistent: number;
}
interface Report {
  overall: Stats;
  by_station: Record<string, Stats>;
  by_prefecture: Record<string, Stats>;
}

const NS = 'http://www.w3.org/2000/svg';
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const COLOURS = ['#40c4ff', '#ffb300', '#69f0ae', '#ff5252'];

/** Grouped horizontal bars: one group per label, one bar per series. */
function barChart(labels: string[], series: { name: string; values: (number | null)[] }[]): SVGElement {
  const rowH = 14 * series.length + 10;
  const left = 150;
  const width = 640;
  const height = labels.length * rowH + 40;
  const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', class: 'chart' });
  labels.forEach((label, i) => {
    const y = 10 + i * rowH;
    root.appendChild(svg('text', { x: left - 8, y: y + rowH / 2, 'text-anchor': 'end', class: 'label' }, label));
    series.forEach((s, j) => {
      const v = s.values[i];
      const w = v === null ? 0 : ((width - left - 70) * v) / max;
      root.appendChild(svg('rect', { x: left, y: y + j * 14, width: Math.max(w, 1), height: 12, fill: COLOURS[j % COLOURS.length] }));
      root.appendChild(svg('text', { x: left + w + 4, y: y + j * 14 + 10, class: 'value' }, v === null ? '—' : fmtDuration(v)));
    });
  });
  series.forEach((s, j) => {
    root.appendChild(svg('rect', { x: left + j * 160, y: height - 18, width: 12, height: 12, fill: COLOURS[j % COLOURS.length] }));
    root.appendChild(svg('text', { x: left + j * 160 + 16, y: height - 8, class: 'label' }, s.name));
  });
  return root;
}

/** Lines over days. */
function lineChart(days: string[], series: { name: string; values: (number | null)[] }[]): SVGElement {
  const width = 640;
  const height = 240;
  const pad = { l: 50, r: 10, t: 10, b: 40 };
  const max = Math.max(1, ...series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const x = (i: number) => pad.l + ((width - pad.l - pad.r) * i) / Math.max(1, days.length - 1);
  const y = (v: number) => height - pad.b - ((height - pad.t - pad.b) * v) / max;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', class: 'chart' });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    root.appendChild(svg('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: 'grid' }));
    root.appendChild(svg('text', { x: pad.l - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'value' }, fmtDuration(v)));
  }
  days.forEach((d, i) => root.appendChild(svg('text', { x: x(i), y: height - pad.b + 16, 'text-anchor': 'middle', class: 'label' }, d.slice(5))));
  series.forEach((s, j) => {
    const pts = s.values.map((v, i) => (v === null ? null : `${x(i)},${y(v)}`)).filter(Boolean);
    root.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: COLOURS[j % COLOURS.length], 'stroke-width': 2 }));
    s.values.forEach((v, i) => { if (v !== null) root.appendChild(svg('circle', { cx: x(i), cy: y(v), r: 3, fill: COLOURS[j % COLOURS.length] })); });
    root.appendChild(svg('rect', { x: pad.l + j * 180, y: height - 14, width: 12, height: 12, fill: COLOURS[j % COLOURS.length] }));
    root.appendChild(svg('text', { x: pad.l + j * 180 + 16, y: height - 4, class: 'label' }, s.name));
  });
  return root;
}

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function mountStats(root: HTMLElement, _ctx: Ctx): () => void {
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400_000);
  const from = h('input', { type: 'date', id: 'stats-from', value: isoDay(weekAgo) });
  const to = h('input', { type: 'date', id: 'stats-to', value: isoDay(today) });
  const out = h('div', { id: 'stats-out' });

  async function load(): Promise<void> {
    clear(out, h('p', { class: 'muted' }, '…'));
    const start = new Date(`${from.value}T00:00:00Z`);
    const end = new Date(new Date(`${to.value}T00:00:00Z`).getTime() + 86400_000);
    try {
      const report = await get<Report>(`/stats/response-times${qs({ from: start.toISOString(), to: end.toISOString() })}`);
      const days: string[] = [];
      for (let d = start.getTime(); d < end.getTime() && days.length < 31; d += 86400_000) days.push(isoDay(new Date(d)));
      const daily = await Promise.all(days.map((d) => {
        const s = new Date(`${d}T00:00:00Z`);
        return get<Report>(`/stats/response-times${qs({ from: s.toISOString(), to: new Date(s.getTime() + 86400_000).toISOString() })}`).catch(() => null);
      }));
      const stations = Object.keys(report.by_station).sort();
      const o = report.overall;
      clear(
        out,
        h('div', { class: 'kpis' },
          h('div', { class: 'kpi' }, h('span', {}, 'incidents'), h('b', { id: 'kpi-incidents' }, o.incidents)),
          h('div', { class: 'kpi' }, h('span', {}, `${t('call_to_dispatch')} ${t('median')}`), h('b', {}, o.call_to_dispatch ? fmtDuration(o.call_to_dispatch.median_s) : '—')),
          h('div', { class: 'kpi' }, h('span', {}, `${t('call_to_dispatch')} ${t('p90')}`), h('b', {}, o.call_to_dispatch ? fmtDuration(o.call_to_dispatch.p90_s) : '—')),
          h('div', { class: 'kpi' }, h('span', {}, `${t('dispatch_to_arrival')} ${t('median')}`), h('b', {}, o.dispatch_to_arrival ? fmtDuration(o.dispatch_to_arrival.median_s) : '—')),
          h('div', { class: 'kpi' }, h('span', {}, `${t('dispatch_to_arrival')} ${t('p90')}`), h('b', {}, o.dispatch_to_arrival ? fmtDuration(o.dispatch_to_arrival.p90_s) : '—'))),
        h('h3', {}, `${t('by_station')} — ${t('median')}`),
        barChart(stations, [
          { name: t('call_to_dispatch'), values: stations.map((s) => report.by_station[s].call_to_dispatch?.median_s ?? null) },
          { name: t('dispatch_to_arrival'), values: stations.map((s) => report.by_station[s].dispatch_to_arrival?.median_s ?? null) },
        ]),
        h('h3', {}, `${t('per_day')} — ${t('median')}`),
        lineChart(days, [
          { name: t('call_to_dispatch'), values: daily.map((r) => r?.overall.call_to_dispatch?.median_s ?? null) },
          { name: t('dispatch_to_arrival'), values: daily.map((r) => r?.overall.dispatch_to_arrival?.median_s ?? null) },
        ]),
      );
    } catch (e) {
      clear(out, h('p', { class: 'error' }, e instanceof ApiError ? e.message : String(e)));
    }
  }

  clear(
    root,
    h('div', { class: 'stats' },
      h('h2', {}, t('response_times')),
      h('form', { class: 'inline-form', onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
        h('label', { class: 'inline' }, t('from'), from), h('label', { class: 'inline' }, t('to'), to),
        h('button', { type: 'submit', id: 'stats-show' }, t('show'))),
      out),
  );
  void load();
  return () => undefined;
}
