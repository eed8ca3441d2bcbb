// The self-annotation pages: the condition files under the runs folder, and one file's view (sizes per
// self-label as bars, agreement with hidden annotations, its images per self-label with boxes or segments).
import type { AnnotationView } from '../eval/annotation-view.js';
import type { ConditionFileSummary, RenderState } from './annotations.js';
import { escapeHtml, fileUrl, layout, scriptTag } from './pages.js';

export const annotationUrl = (rel: string) => `/annotation?path=${encodeURIComponent(rel)}`;

export function annotationsPage(root: string, files: ConditionFileSummary[]): string {
  const rows = files
    .map(
      (
        f,
      ) => `<tr data-file="${escapeHtml(f.path)}"><td><a href="${annotationUrl(f.path)}">${escapeHtml(f.path)}</a></td>
<td>${escapeHtml(f.kind)}</td><td>${escapeHtml(f.dataset)}</td><td class="muted">${escapeHtml(f.method)}</td>
<td>${f.viewed ? 'yes' : ''}</td></tr>`,
    )
    .join('\n');
  const body = files.length
    ? `<table id="conditions"><thead><tr><th>condition file</th><th>kind</th><th>dataset</th><th>method</th><th>viewed</th></tr></thead><tbody>${rows}</tbody></table>`
    : `<p>No condition files under <code>${escapeHtml(root)}</code>. Make self-labels with <code>selfguided cluster</code>, self-boxes with <code>selfguided boxes</code> or self-masks with <code>selfguided masks</code>.</p>`;
  return layout(
    'Self-annotations',
    `<h1>Self-annotations</h1><p class="muted">Condition files (self-labels, self-boxes, self-masks) under <code>${escapeHtml(root)}</code>. Opening one renders its view once (<code>selfguided inspect</code>); it is kept until the file changes.</p>${body}`,
  );
}

/** Horizontal bars, one per id: what share of the images (or pixels) it has. */
function bars(values: number[], label: (i: number) => string, text: (v: number) => string): string {
  const max = Math.max(...values, 1e-12);
  const H = 18,
    W = 560,
    L = 70;
  const rows = values
    .map((v, i) => {
      const w = ((W - L - 90) * v) / max;
      return `<text x="0" y="${i * H + 13}">${escapeHtml(label(i))}</text><rect x="${L}" y="${i * H + 3}" width="${w.toFixed(1)}" height="${H - 6}" fill="#2c5bd6"/><text x="${(L + w + 6).toFixed(1)}" y="${i * H + 13}">${escapeHtml(text(v))}</text>`;
    })
    .join('');
  return `<svg class="bars" width="${W}" height="${values.length * H + 4}" role="img" font-size="12">${rows}</svg>`;
}

const f4 = (x: number) => x.toFixed(4);

function qualityTable(q: AnnotationView['quality']): string {
  const rows: [string, string][] = [];
  if (q.labels)
    rows.push([
      q.labelsOf === 'main object' ? 'hidden class of the largest object' : 'hidden labels',
      `NMI ${f4(q.labels.nmi)}, accuracy ${f4(q.labels.accuracy)}, ARI ${f4(q.labels.ari)}, purity ${f4(q.labels.purity)}`,
    ]);
  if (q.labelSets)
    rows.push([
      'hidden classes present',
      `exact set ${f4(q.labelSets.exactSet)}, Jaccard ${f4(q.labelSets.jaccard)} (ids matched to classes by co-occurrence)`,
    ]);
  if (q.masks)
    rows.push([
      'hidden masks',
      `mIoU ${f4(q.masks.mIoU)}, foreground IoU ${f4(q.masks.foregroundIoU)}, pixel accuracy ${f4(q.masks.pixelAccuracy)}`,
    ]);
  if (q.boxes) rows.push(['hidden boxes', `IoU of the box areas ${f4(q.boxes.iou)}`]);
  if (!rows.length) return '';
  return `<h2>Against the hidden annotations</h2><table id="quality">${rows.map(([a, b]) => `<tr><th>${a}</th><td>${b}</td></tr>`).join('')}</table>`;
}

function viewBody(rel: string, dir: string, v: AnnotationView): string {
  const meta = Object.entries(v.meta)
    .filter(([k]) => !['extractorConfig', 'lost', 'dataSpec'].includes(k))
    .map(([k, x]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(x)}</td></tr>`)
    .join('');
  const parts = [
    `<p class="muted">${escapeHtml(v.kind)}, ${v.images} images${v.dataset ? ` of ${escapeHtml(v.dataset)}` : ''}.</p>`,
    `<table id="meta">${meta}</table>`,
    qualityTable(v.quality),
  ];
  if (v.ids)
    parts.push(
      `<h2>Images per id${v.ids.multiLabel ? ' <span class="muted">(an image counts for each id it carries)</span>' : ''}</h2>`,
      bars(
        v.ids.sizes,
        (i) => `id ${i}`,
        (x) => String(x),
      ),
    );
  if (v.segments)
    parts.push(
      '<h2>Pixels per segment</h2>',
      bars(
        v.segments.share,
        (i) => `seg ${i}${i === v.segments!.background ? ' (bg)' : ''}`,
        (x) => `${(100 * x).toFixed(1)}%`,
      ),
    );
  if (v.boxes) parts.push(`<p>Boxes cover ${(100 * v.boxes.coverage).toFixed(1)}% of the canvas on average.</p>`);
  if (v.vectorDim) parts.push(`<p>Continuous ${v.vectorDim}-dimensional vectors: no ids to group the images by.</p>`);
  if (!v.dataset)
    parts.push(
      `<p class="muted">The file names no dataset and no run under this folder trains on it, so there are no pictures. <code>selfguided inspect --condition ${escapeHtml(rel)} --data ...</code> makes them.</p>`,
    );
  const pics = v.pictures
    .map(
      (p) =>
        `<figure data-id="${p.id ?? 'overview'}"><figcaption>${p.id === null ? `the first images${v.segments || v.boxes ? ', annotations drawn' : ''}` : `id ${p.id}: ${p.members} images`}</figcaption><img alt="${p.id === null ? 'overview' : `id ${p.id}`}" src="${fileUrl(`${dir}/${p.file}`)}"></figure>`,
    )
    .join('');
  if (pics) parts.push(`<h2>Images</h2><div id="pictures" class="pictures">${pics}</div>`);
  return parts.join('\n');
}

/** `dir` is the view's folder relative to the root (for its pictures). */
export function annotationPage(rel: string, dir: string, s: RenderState): string {
  const title = `<h1>${escapeHtml(rel)}</h1>`;
  if (s.state === 'ready') return layout(rel, `${title}${viewBody(rel, dir, s.view)}`);
  const status = s.state === 'failed' ? `failed: ${escapeHtml(s.error)}` : 'rendering the view (selfguided inspect)...';
  const body = `${title}<p id="status">${status}</p><p id="retry"${s.state === 'failed' ? '' : ' hidden'}><a href="${annotationUrl(rel)}&amp;retry=1">try again</a></p>
${s.state === 'rendering' ? scriptTag('annotation-poll') : ''}`;
  return layout(rel, body, rel);
}
