// chart.js draws a hashrate series (the API's {points: [{t, hashrate}]})
// with uPlot. The chart's element carries data-points, the number of
// points drawn, which the tests read.
import uPlot from './vendor/uplot/uPlot.esm.js';
import {h, fill, message} from './dom.js';
import {hashrate, isNum, parseTime} from './format.js';

const height = 240;

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

// toColumns turns points into uPlot's columns: times in seconds, rates in
// H/s (null where a point has none, which uPlot leaves as a gap). Points
// without a readable time are dropped.
export function toColumns(points) {
  const xs = [];
  const ys = [];
  for (const p of points) {
    const t = parseTime(p && p.t);
    if (!Number.isFinite(t)) {
      continue;
    }
    xs.push(t / 1000);
    ys.push(isNum(p.hashrate) ? p.hashrate : null);
  }
  return [xs, ys];
}

// lastIndex is the index of the last value that is not null, or -1.
function lastIndex(ys) {
  for (let i = ys.length - 1; i >= 0; i--) {
    if (ys[i] !== null && ys[i] !== undefined) {
      return i;
    }
  }
  return -1;
}

const timeFormat = {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'};

function pointTime(i, xs) {
  return i >= 0 && i < xs.length ? new Date(xs[i] * 1000).toLocaleString(undefined, timeFormat) : '—';
}

export class HashrateChart {
  // name goes into data-chart; empty is the note shown for no points.
  constructor(name, empty) {
    this.empty = empty;
    this.plot = null;
    this.el = h('div', {class: 'chart', 'data-chart': name, 'data-points': '0'});
    this.resize = new ResizeObserver(() => {
      if (this.plot) {
        this.plot.setSize({width: this.width(), height});
      }
    });
    this.resize.observe(this.el);
  }

  width() {
    return Math.max(this.el.clientWidth, 280);
  }

  // update draws the series' points, making the chart on the first call.
  // An answer without a list of points throws, to be shown as an error
  // rather than as a chart with nothing to show.
  update(series) {
    if (!series || !Array.isArray(series.points)) {
      throw new Error('"points" is not a list');
    }
    const data = toColumns(series.points);
    this.el.dataset.points = String(data[0].length);
    if (data[0].length === 0) {
      this.dropPlot();
      fill(this.el, message('note', this.empty));
      return;
    }
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    fill(this.el);
    this.plot = new uPlot(this.options(), data, this.el);
  }

  options() {
    const fg = cssVar('--muted', '#555');
    const grid = cssVar('--grid', '#e4e4e4');
    const line = cssVar('--accent', '#2563c9');
    const axis = {stroke: fg, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
    return {
      width: this.width(),
      height,
      cursor: {drag: {x: false, y: false}},
      scales: {y: {range: (u, min, max) => [0, isNum(max) && max > 0 ? max * 1.1 : 1]}},
      // With the cursor off the chart, the legend shows the latest point.
      series: [
        {
          label: 'Time',
          value: (u, v, sidx, idx) => pointTime(idx === null ? lastIndex(u.data[1]) : idx, u.data[0]),
        },
        {
          label: 'Hashrate',
          stroke: line,
          width: 2,
          fill: cssVar('--accent-fill', 'rgba(37, 99, 201, 0.12)'),
          value: (u, v, sidx, idx) => hashrate(idx === null ? u.data[1][lastIndex(u.data[1])] : v),
          points: {show: false},
        },
      ],
      axes: [
        axis,
        {...axis, size: 84, values: (u, splits) => splits.map((v) => hashrate(v))},
      ],
    };
  }

  dropPlot() {
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
  }

  destroy() {
    this.resize.disconnect();
    this.dropPlot();
  }
}
