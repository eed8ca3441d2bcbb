// A colour image folder made on this machine from two Debian packages: every fully-qualified emoji of
// Unicode's emoji-test.txt (unicode-data), drawn with Noto Color Emoji (fonts-noto-color-emoji) by
// sharp's text renderer, flattened on black and fitted into a square; one subfolder per Unicode group
// (smileys, animals, food, ...), so that an evaluation network can be trained on the groups. Real colour
// statistics (warm skin tones, saturated objects, dark backgrounds), unlike the grey datasets.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const EMOJI_TEST = '/usr/share/unicode/emoji/emoji-test.txt';
export const EMOJI_FONT = 'Noto Color Emoji';
const FONT_FILE = '/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf';
export const EMOJI_PACKAGES = 'apt-get install -y unicode-data fonts-noto-color-emoji';

export interface EmojiEntry {
  /** the characters */
  text: string;
  /** code points as hex, '-'-joined (file names) */
  codes: string;
  group: string;
  name: string;
}

/** The fully-qualified emoji of an emoji-test.txt, with their groups ('Component' left out: parts, not pictures). */
export function parseEmojiTest(text: string): EmojiEntry[] {
  const out: EmojiEntry[] = [];
  let group = '';
  for (const line of text.split('\n')) {
    const g = /^# group: (.+)$/.exec(line);
    if (g) {
      group = g[1]!.trim();
      continue;
    }
    const m = /^([0-9A-F ]+?)\s*; fully-qualified\s*# (\S+) E[\d.]+ (.+)$/.exec(line);
    if (!m || group === 'Component') continue;
    const codes = m[1]!.trim().split(/\s+/);
    out.push({
      text: String.fromCodePoint(...codes.map((c) => parseInt(c, 16))),
      codes: codes.join('-').toLowerCase(),
      group,
      name: m[3]!.trim(),
    });
  }
  return out;
}

/** A group's folder name: "Animals & Nature" -> "animals-nature". */
export const groupSlug = (group: string) =>
  group
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

export interface EmojiFolderOptions {
  out: string;
  /** side of each image in pixels */
  size?: number;
  /** at most this many emoji, in file order (for tests) */
  limit?: number;
  log?: (msg: string) => void;
}

/** Writes the folder; returns how many images per group. Refuses with the apt-get line when a package is missing. */
export async function writeEmojiFolder(o: EmojiFolderOptions): Promise<Record<string, number>> {
  for (const [file, what] of [
    [EMOJI_TEST, 'the emoji list'],
    [FONT_FILE, 'the colour emoji font'],
  ] as const)
    if (!existsSync(file)) throw new Error(`${what} (${file}) is missing; install it with: ${EMOJI_PACKAGES}`);
  const size = o.size ?? 32;
  if (!Number.isInteger(size) || size < 8 || size > 256)
    throw new RangeError(`size must be a whole number of pixels in [8, 256], got ${size}`);
  const entries = parseEmojiTest(readFileSync(EMOJI_TEST, 'utf8')).slice(0, o.limit);
  const { default: sharp } = await import('sharp');
  const counts: Record<string, number> = {};
  const black = { r: 0, g: 0, b: 0, alpha: 1 };
  for (const [i, e] of entries.entries()) {
    const dir = join(o.out, groupSlug(e.group));
    if (!counts[e.group]) mkdirSync(dir, { recursive: true });
    // Drawn large, then fitted: the glyph's own proportions kept, centred on black.
    const glyph = await sharp({ text: { text: e.text, font: EMOJI_FONT, rgba: true, dpi: 600 } })
      .png()
      .toBuffer();
    // sharp flattens before it resizes, so the padding of `contain` must be opaque black itself: a
    // transparent padding hid its black behind alpha 0, which a loader that composites would not show.
    const png = await sharp(glyph)
      .resize(size, size, { fit: 'contain', background: black, kernel: 'lanczos3' })
      .flatten({ background: black })
      .removeAlpha()
      .png()
      .toBuffer();
    writeFileSync(join(dir, `${String(i).padStart(4, '0')}-${e.codes}.png`), png);
    counts[e.group] = (counts[e.group] ?? 0) + 1;
    if ((i + 1) % 500 === 0) o.log?.(`emoji: ${i + 1}/${entries.length}`);
  }
  return counts;
}
