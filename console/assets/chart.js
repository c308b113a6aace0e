// LineChart draws the latest values of a few series as lines on a canvas:
// one point per push, the newest at the right edge, the y axis from 0 to a
// round number above the largest value shown. It redraws on every push and
// when the canvas is resized, at the screen's pixel density.
export class LineChart {
  // series: [{color}], one per line. capacity: the points kept per series.
  // integer: the values are counts, so the axis shows whole numbers.
  constructor(canvas, series, { capacity = 60, integer = false } = {}) {
    this.canvas = canvas;
    this.series = series.map((s) => ({ color: s.color, values: [] }));
    this.capacity = capacity;
    this.integer = integer;
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  // push adds one value per series, in the order of the series.
  push(values) {
    this.series.forEach((s, i) => {
      s.values.push(Number(values[i]) || 0);
      if (s.values.length > this.capacity) s.values.shift();
    });
    this.canvas.dataset.points = String(this.series[0].values.length);
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    const pad = { left: 38, right: 8, top: 8, bottom: 18 };
    const pw = w - pad.left - pad.right;
    const ph = h - pad.top - pad.bottom;
    const largest = Math.max(0, ...this.series.flatMap((s) => s.values));
    const top = axisMax(largest, this.integer);
    const x = (i, n) => pad.left + pw - ((n - 1 - i) * pw) / (this.capacity - 1);
    const y = (v) => pad.top + ph - (v / top) * ph;

    // Grid and labels.
    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#e5e7eb';
    ctx.fillStyle = '#6b7280';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      const gy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, gy);
      ctx.lineTo(pad.left + pw, gy);
      ctx.stroke();
      ctx.fillText(label(v), pad.left - 6, gy);
    }
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    ctx.fillText(`-${this.capacity}s`, pad.left, pad.top + ph + 4);
    ctx.textAlign = 'right';
    ctx.fillText('now', pad.left + pw, pad.top + ph + 4);

    // One line per series; a single point is a dot.
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    for (const s of this.series) {
      const n = s.values.length;
      if (n === 0) continue;
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      if (n === 1) {
        ctx.beginPath();
        ctx.arc(x(0, 1), y(s.values[0]), 2.5, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      s.values.forEach((v, i) => (i ? ctx.lineTo(x(i, n), y(v)) : ctx.moveTo(x(i, n), y(v))));
      ctx.stroke();
    }
  }
}

// axisMax returns the top of the y axis, at or above v: 1, 2, 4, 6 or 8
// times a power of ten, so that its quarters (the grid lines) are round;
// for counts, a multiple of 4, so that they are whole numbers.
function axisMax(v, integer) {
  if (integer) return Math.max(4, Math.ceil(v / 4) * 4);
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 6, 8]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v) {
  if (v >= 1000) return `${+(v / 1000).toFixed(1)}k`;
  return String(+v.toFixed(2));
}
