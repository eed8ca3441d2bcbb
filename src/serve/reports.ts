// The experiment reports (docs/results/*.md, written by the reproduction runners) as web pages: their
// tables, grids and plots, rendered from the same markdown the repository shows.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { marked } from 'marked';
import { escapeHtml, layout } from './pages.js';
import { HttpError, resolveUnder } from './safe-path.js';

/** This checkout's docs/results. */
export const DEFAULT_REPORTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'results');

const REPORT = /^[\w.-]+\.md$/;

export function listReports(dir: string): { name: string; title: string }[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => REPORT.test(f));
  } catch {
    return [];
  }
  return files.sort().map((name) => {
    const heading = /^#\s+(.+)$/m.exec(readFileSync(join(dir, name), 'utf8'));
    return { name, title: heading ? heading[1]! : name };
  });
}

export function reportsPage(dir: string): string {
  const items = listReports(dir)
    .map(
      (r) =>
        `<li><a href="/reports/${encodeURIComponent(r.name)}">${escapeHtml(r.title)}</a> <span class="muted">${escapeHtml(r.name)}</span></li>`,
    )
    .join('');
  return layout(
    'Reports',
    `<h1>Reports</h1><p class="muted">The experiment reports in <code>${escapeHtml(dir)}</code>.</p><ul id="reports">${items}</ul>`,
  );
}

/** One report as HTML; its relative image links resolve under /reports/ to the files beside it. */
export function reportPage(dir: string, name: string): string {
  if (!REPORT.test(name)) throw new HttpError(400, `not a report name: ${name}`);
  const md = readFileSync(resolveUnder(dir, name), 'utf8');
  const html = marked.parse(md, { async: false, gfm: true });
  return layout(name, `<article class="report">${html}</article>`);
}
