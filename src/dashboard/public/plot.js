// Live plot of an engine's recent samples: one sparkline per tag over a shared window of engine time.

import { clockTime, duration, value as formatValue } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 300;
const HEIGHT = 40;
const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

function svg(name, attributes = {}) {
  const element = document.createElementNS(SVG, name);
  for (const [key, val] of Object.entries(attributes)) element.setAttribute(key, String(val));
  return element;
}

function html(name, className, text) {
  const element = document.createElement(name);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The SVG path of `points` ([t, v], oldest first) within [from, to] × [min, max]. */
function linePath(points, from, to, min, max) {
  const spanT = Math.max(1, to - from);
  const spanV = max - min || 1;
  let d = '';
  for (const [t, v] of points) {
    if (t < from) continue;
    const x = ((t - from) / spanT) * WIDTH;
    const y = HEIGHT - 2 - ((v - min) / spanV) * (HEIGHT - 4);
    d += `${d ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
  }
  return d;
}

/**
 * Draws `tags` (a Map of tag → {unit, points}) into `container`, replacing what was there. The window
 * is the last `windowMs` of engine time up to the newest point of any tag, or less when the points
 * cover less (so a young engine's few seconds fill the width).
 */
export function renderPlot(container, tags, windowMs = 60_000) {
  const rows = [];
  let newest = Number.NEGATIVE_INFINITY;
  let oldest = Number.POSITIVE_INFINITY;
  for (const series of tags.values()) {
    const first = series.points[0];
    const last = series.points.at(-1);
    if (last && last[0] > newest) newest = last[0];
    if (first && first[0] < oldest) oldest = first[0];
  }
  const from = Math.max(newest - windowMs, oldest);
  let index = 0;
  for (const [tag, series] of tags) {
    const visible = series.points.filter(([t]) => t >= from);
    const color = PALETTE[index++ % PALETTE.length];
    const row = html('div', 'tag-row');
    row.dataset.tag = tag;
    const name = html('span', 'tag-name', tag);
    if (series.unit) name.append(' ', html('small', '', series.unit));
    const chart = svg('svg', {
      class: 'spark',
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      preserveAspectRatio: 'none',
      role: 'img',
      'aria-label': `${tag}, engine time ${clockTime(from)} to ${clockTime(newest)}`,
    });
    const latest = visible.at(-1);
    if (visible.length > 0) {
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (const [, v] of visible) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      chart.append(
        svg('path', {
          d: linePath(visible, from, newest, min, max),
          fill: 'none',
          stroke: color,
          'stroke-width': 1.5,
          'vector-effect': 'non-scaling-stroke',
        }),
      );
      row.append(
        name,
        chart,
        html('span', 'tag-value', formatValue(latest[1])),
        html('span', 'tag-range', `${formatValue(min)} – ${formatValue(max)}`),
      );
    } else {
      row.append(name, chart, html('span', 'tag-value', '—'), html('span', 'tag-range', 'no recent samples'));
    }
    rows.push(row);
  }
  if (rows.length === 0) {
    container.replaceChildren(html('p', 'plot-empty', 'No samples yet.'));
    return;
  }
  const caption = html(
    'p',
    'plot-caption',
    `Engine time ${clockTime(from)} – ${clockTime(newest)} (${duration(newest - from)})`,
  );
  container.replaceChildren(...rows, caption);
}
