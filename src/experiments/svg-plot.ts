// Line charts as standalone SVG text (no dependencies): panels side by side, each with its own axes,
// ticks at "nice" values and a legend, for the plots committed with experiment results.

export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const W = 420,
  H = 300,
  M = { left: 58, right: 16, top: 34, bottom: 46 };

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new RangeError('ticks need finite bounds');
  // Bounds equal to float precision (two measures that agree to the 15th digit) would give a step that
  // does not move v: one tick, as for equal bounds.
  if (hi - lo <= Math.max(Math.abs(lo), Math.abs(hi)) * 1e-9) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const label = (v: number) =>
  Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4)));

function panelSvg(p: Panel, dx: number): string {
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length === 0) throw new RangeError(`panel '${p.title}' has no finite points`);
  const xs = pts.map(([x]) => x),
    ys = pts.map(([, y]) => y);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  const pad = (y1 - y0 || Math.abs(y0) || 1) * 0.08;
  [y0, y1] = [y0 - pad, y1 + pad];
  const iw = W - M.left - M.right,
    ih = H - M.top - M.bottom;
  const sx = (x: number) => dx + M.left + ((x - x0) / (x1 - x0)) * iw;
  const sy = (y: number) => M.top + (1 - (y - y0) / (y1 - y0)) * ih;
  const parts: string[] = [];
  parts.push(
    `<text x="${dx + W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`,
  );
  parts.push(`<rect x="${dx + M.left}" y="${M.top}" width="${iw}" height="${ih}" fill="none" stroke="#444"/>`);
  for (const t of niceTicks(x0, x1)) {
    parts.push(
      `<line x1="${sx(t)}" y1="${M.top + ih}" x2="${sx(t)}" y2="${M.top + ih + 4}" stroke="#444"/><text x="${sx(t)}" y="${M.top + ih + 17}" text-anchor="middle" font-size="11">${label(t)}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1)) {
    parts.push(
      `<line x1="${dx + M.left}" y1="${sy(t)}" x2="${dx + M.left + iw}" y2="${sy(t)}" stroke="#ddd"/><text x="${dx + M.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${label(t)}</text>`,
    );
  }
  parts.push(
    `<text x="${dx + M.left + iw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(${dx + 14},${M.top + ih / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.yLabel)}</text>`,
  );
  p.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((a, b) => a[0] - b[0]);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${good.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`,
    );
    for (const [x, y] of good)
      parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = M.top + 14 + i * 16;
    parts.push(
      `<line x1="${dx + M.left + iw - 120}" y1="${ly - 4}" x2="${dx + M.left + iw - 104}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/><text x="${dx + M.left + iw - 100}" y="${ly}" font-size="11">${esc(s.name)}</text>`,
    );
  });
  return parts.join('\n');
}

/** Panels side by side as one SVG document. */
export function renderLineCharts(panels: Panel[]): string {
  if (panels.length === 0) throw new RangeError('no panels to draw');
  const width = W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="sans-serif">`,
    `<rect width="${width}" height="${H}" fill="white"/>`,
    ...panels.map((p, i) => panelSvg(p, i * W)),
    '</svg>',
    '',
  ].join('\n');
}
