// The rate chart: bytes per second in and out over the last minute,
// drawn as SVG by hand (two polylines, a grid, and the scale as text).

import {s, setText} from './dom.js';
import {bytes} from './format.js';

const W = 600;
const H = 160;
const PAD = {left: 64, right: 8, top: 10, bottom: 22};
const POINTS = 60;

// rateChart returns {el, push(sample)}; a sample is {inRate, outRate}
// in bytes per second, one a poll.
export function rateChart() {
  const samples = [];
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const grid = s('g', {class: 'grid-lines'});
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + (plotH * i) / 4;
    grid.appendChild(s('line', {x1: PAD.left, x2: W - PAD.right, y1: y, y2: y}));
  }
  const maxLabel = s('text', {x: PAD.left - 6, y: PAD.top + 4, 'text-anchor': 'end', class: 'axis'}, '0 B/s');
  const midLabel = s('text', {x: PAD.left - 6, y: PAD.top + plotH / 2 + 4, 'text-anchor': 'end', class: 'axis'}, '');
  const zeroLabel = s('text', {x: PAD.left - 6, y: PAD.top + plotH + 4, 'text-anchor': 'end', class: 'axis'}, '0');
  const timeLabel = s('text', {x: PAD.left, y: H - 5, class: 'axis'}, '60 s ago');
  const nowLabel = s('text', {x: W - PAD.right, y: H - 5, 'text-anchor': 'end', class: 'axis'}, 'now');
  const inLine = s('polyline', {class: 'line-in', points: ''});
  const outLine = s('polyline', {class: 'line-out', points: ''});
  const legend = s('g', {class: 'legend'},
    s('rect', {x: PAD.left + 8, y: PAD.top + 2, width: 10, height: 3, class: 'swatch-in'}),
    s('text', {x: PAD.left + 22, y: PAD.top + 7, class: 'axis'}, 'in'),
    s('rect', {x: PAD.left + 44, y: PAD.top + 2, width: 10, height: 3, class: 'swatch-out'}),
    s('text', {x: PAD.left + 58, y: PAD.top + 7, class: 'axis'}, 'out'));
  const el = s('svg', {viewBox: '0 0 ' + W + ' ' + H, class: 'rate-chart', role: 'img', 'aria-label': 'bytes per second in and out, last minute'},
    grid, maxLabel, midLabel, zeroLabel, timeLabel, nowLabel, inLine, outLine, legend);

  function draw() {
    let max = 0;
    for (const p of samples) max = Math.max(max, p.inRate, p.outRate);
    const top = niceCeil(max);
    const x = (i) => PAD.left + (plotW * (POINTS - samples.length + i)) / (POINTS - 1);
    const y = (v) => PAD.top + plotH - (top > 0 ? (plotH * v) / top : 0);
    const pts = (key) => samples.map((p, i) => x(i).toFixed(1) + ',' + y(p[key]).toFixed(1)).join(' ');
    inLine.setAttribute('points', pts('inRate'));
    outLine.setAttribute('points', pts('outRate'));
    setText(maxLabel, top > 0 ? bytes(top) + '/s' : '0 B/s');
    setText(midLabel, top > 0 ? bytes(top / 2) + '/s' : '');
  }

  return {
    el,
    push(sample) {
      samples.push({inRate: sample.inRate || 0, outRate: sample.outRate || 0});
      while (samples.length > POINTS) samples.shift();
      draw();
    },
  };
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
function niceCeil(v) {
  if (v <= 0) return 0;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
