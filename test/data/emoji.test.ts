// The colour folder: emoji-test.txt parsed (groups, fully-qualified only, no components), and a few emoji
// drawn in colour on black into one folder per group, which loads as a labelled colour dataset.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EMOJI_TEST, groupSlug, parseEmojiTest, writeEmojiFolder } from '../../src/data/emoji.js';
import { loadDataset } from '../../src/data/spec.js';

const SAMPLE = `# group: Smileys & Emotion
# subgroup: face-smiling
1F600                                                  ; fully-qualified     # 😀 E1.0 grinning face
263A FE0F                                              ; fully-qualified     # ☺️ E0.6 smiling face
263A                                                   ; unqualified         # ☺ E0.6 smiling face
# group: Component
1F3FB                                                  ; component           # 🏻 E1.0 light skin tone
# group: Animals & Nature
1F98A                                                  ; fully-qualified     # 🦊 E3.0 fox
`;

describe('the emoji colour folder', () => {
  test('emoji-test.txt: fully-qualified entries with their groups, components left out', () => {
    const e = parseEmojiTest(SAMPLE);
    assert.deepEqual(
      e.map((x) => [x.codes, x.group, x.name]),
      [
        ['1f600', 'Smileys & Emotion', 'grinning face'],
        ['263a-fe0f', 'Smileys & Emotion', 'smiling face'],
        ['1f98a', 'Animals & Nature', 'fox'],
      ],
    );
    assert.equal(e[2]!.text, '🦊');
    assert.equal(groupSlug('Animals & Nature'), 'animals-nature');
  });

  const skip = existsSync(EMOJI_TEST) ? false : 'unicode-data is not installed';
  test('drawn in colour on black, one folder per group, loaded as a labelled colour dataset', { skip }, async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'sg-emoji-')), 'emoji');
    const counts = await writeEmojiFolder({ out, size: 32, limit: 12 });
    assert.equal(
      Object.values(counts).reduce((a, b) => a + b, 0),
      12,
    );
    assert.deepEqual(readdirSync(out).sort(), Object.keys(counts).map(groupSlug).sort());
    const ds = await loadDataset({ kind: 'folder', path: out, size: 32, channels: 3, labelsFromFolders: true });
    assert.equal(ds.length, 12);
    const x = ds.images(Array.from({ length: 12 }, (_, i) => i)); // [-1, 1]
    assert.deepEqual(x.shape, [12, 3, 32, 32]);
    const corner = x.narrow(2, 0, 2).narrow(3, 0, 2);
    assert.ok(corner.max().item() < -0.9, 'the background is black');
    // Colour: some pixel's channels differ clearly (a grey picture's never do).
    const spread = x.amax(1).sub(x.amin(1)).max().item();
    assert.ok(spread > 0.5, `channel spread ${spread}`);
    x.dispose();
    ds.dispose();
    await assert.rejects(writeEmojiFolder({ out, size: 4 }), /size must be a whole number of pixels in \[8, 256\]/);
  });
});
