// The 4-connected components of a binary image: what a foreground becomes objects by (the sampled
// canvases' objects in evaluation, the pixel-threshold baseline's boxes).

export type Box = [number, number, number, number];

/** The 4-connected components of the non-zero pixels of an s x s image: bounding box [x0, y0, x1, y1) and size. */
export function connectedComponents(f: ArrayLike<number>, s: number): { box: Box; pixels: number }[] {
  const seen = new Uint8Array(s * s);
  const out: { box: Box; pixels: number }[] = [];
  for (let start = 0; start < s * s; start++) {
    if (!f[start] || seen[start]) continue;
    let x0 = s,
      y0 = s,
      x1 = 0,
      y1 = 0,
      count = 0;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const y = Math.floor(p / s),
        x = p % s;
      count++;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + 1);
      y1 = Math.max(y1, y + 1);
      for (const q of [x > 0 ? p - 1 : -1, x < s - 1 ? p + 1 : -1, y > 0 ? p - s : -1, y < s - 1 ? p + s : -1])
        if (q >= 0 && f[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
    }
    out.push({ box: [x0, y0, x1, y1], pixels: count });
  }
  return out;
}
