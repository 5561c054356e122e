// A dependency-free SVG line chart (the bench runs on a bare machine).
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];
/** @param {unknown} s */
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

/**
 * @typedef {object} Series
 * @property {string} name
 * @property {{ x: number, y: number }[]} points
 */

/**
 * @param {object} o
 * @param {string} o.title
 * @param {string} o.xLabel
 * @param {string} o.yLabel
 * @param {Series[]} o.series
 * @param {number} [o.width]
 * @param {number} [o.height]
 */
export function lineChart({ title, xLabel, yLabel, series, width = 640, height = 400 }) {
  const pad = { l: 80, r: 20, t: 40, b: 90 };
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y)).filter(Number.isFinite);
  const xMax = Math.max(...xs, 1);
  const yMax = niceMax(Math.max(...ys, 1));
  /** @param {number} x */
  const X = (x) => pad.l + (x / xMax) * (width - pad.l - pad.r);
  /** @param {number} y */
  const Y = (y) => height - pad.b - (y / yMax) * (height - pad.t - pad.b);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const y = (yMax * i) / 5;
    out.push(
      `<line x1="${pad.l}" x2="${width - pad.r}" y1="${Y(y)}" y2="${Y(y)}" stroke="#ddd"/>`,
      `<text x="${pad.l - 6}" y="${Y(y) + 4}" text-anchor="end">${Math.round(y).toLocaleString('en-US')}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b))
    out.push(`<text x="${X(x)}" y="${height - pad.b + 16}" text-anchor="middle">${x}</text>`);
  out.push(
    `<text x="${(pad.l + width - pad.r) / 2}" y="${height - pad.b + 34}" text-anchor="middle">${esc(xLabel)}</text>`,
  );
  out.push(
    `<text transform="translate(16 ${(pad.t + height - pad.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    out.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${X(p.x)},${Y(p.y)}`).join(' ')}"/>`,
    );
    for (const p of pts) out.push(`<circle cx="${X(p.x)}" cy="${Y(p.y)}" r="3" fill="${c}"/>`);
    out.push(
      `<rect x="${pad.l}" y="${height - 40 + i * 16}" width="10" height="10" fill="${c}"/><text x="${pad.l + 16}" y="${height - 31 + i * 16}">${esc(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** @param {number} v */
function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
