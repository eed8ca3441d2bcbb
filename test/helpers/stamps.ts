// A synthetic stamps folder whose answers are known: red discs and blue squares (and too few grey dots),
// for the colour datasets' tests and the colour experiment's smoke test.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

/** A w x h straight-RGBA shape: colour `rgb` where `inside` holds, transparent elsewhere. */
export function shape(w: number, h: number, rgb: number[], inside: (x: number, y: number) => boolean): Buffer {
  const px = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (inside(x, y)) px.set([...rgb, 255], (y * w + x) * 4);
      else px.set([0, 255, 0, 0], (y * w + x) * 4); // a hidden green that must never show
  return px;
}

const png = (px: Buffer, w: number, h: number) =>
  sharp(px, { raw: { width: w, height: h, channels: 4 } })
    .png()
    .toBuffer();

/**
 * A stamps folder: 30 red discs (disc/), 30 blue squares (square/, one of them an SVG-only stamp and one a
 * stem with both an SVG and a PNG), and 3 grey dots (few/, under the 30 a category needs).
 */
export async function stampsFolder(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'sg-stamps-'));
  for (const d of ['disc', 'square/sub', 'few']) mkdirSync(join(root, d), { recursive: true });
  for (let i = 0; i < 30; i++) {
    const r = 8 + (i % 5);
    const w = 2 * r + 4 + i; // transparent margins the loader must crop away
    writeFileSync(
      join(root, 'disc', `d${String(i).padStart(2, '0')}.png`),
      await png(
        shape(w, w, [255, 0, 0], (x, y) => (x + 0.5 - w / 2) ** 2 + (y + 0.5 - w / 2) ** 2 <= r * r),
        w,
        w,
      ),
    );
  }
  for (let i = 0; i < 28; i++) {
    const sq = 10 + (i % 7);
    writeFileSync(
      join(root, i % 2 ? 'square' : 'square/sub', `s${String(i).padStart(2, '0')}.png`),
      await png(
        shape(sq + 6, sq + 2, [0, 0, 255], (x, y) => x >= 3 && x < sq + 3 && y >= 1 && y < sq + 1),
        sq + 6,
        sq + 2,
      ),
    );
  }
  const svg = (fill: string) =>
    `<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect x="2" y="2" width="16" height="16" fill="${fill}"/></svg>`;
  writeFileSync(join(root, 'square', 'vector.svg'), svg('#0000ff'));
  // Both kinds of one stem: the PNG wins (a blue square), the SVG (red) must not be read.
  writeFileSync(join(root, 'square', 'both.svg'), svg('#ff0000'));
  writeFileSync(
    join(root, 'square', 'both.png'),
    await png(
      shape(12, 12, [0, 0, 255], () => true),
      12,
      12,
    ),
  );
  for (let i = 0; i < 3; i++)
    writeFileSync(
      join(root, 'few', `f${i}.png`),
      await png(
        shape(8, 8, [128, 128, 128], () => true),
        8,
        8,
      ),
    );
  return root;
}
