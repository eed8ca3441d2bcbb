// One skeleton for every "annotate a features file" stage (self-labels, self-boxes, self-masks): open
// the features with their dataset -> annotate -> save the condition file -> judge against the hidden
// labels or annotations when the dataset has them -> a picture of the annotations -> a JSON report beside
// the condition file. The method (k-means/SCAN labels, LOST boxes, patch k-means or STEGO masks) is the
// parameter; what a person reads comes back as lines.
import { writeFileSync } from 'node:fs';
import { disposeAnnotations, saveAnnotations, type Annotations } from '../annotate/annotations.js';
import type { ImageDataset } from '../data/dataset.js';
import type { Features } from '../features/features-file.js';
import { openFeatures } from './open-features.js';

export interface AnnotateInput {
  /** the features file */
  path: string;
  feats: Features;
  /** the dataset the features came from, when the file records how to reload it */
  ds: ImageDataset | null;
  imageSize: number | null;
  log: (msg: string) => void;
}

/** What a method made: the annotations, and what the report and the log say about them. */
export interface Annotated<R> {
  annotations: Annotations;
  /** the method's own result (boxes, k-means statistics, ...), for judging and drawing */
  result: R;
  /** report fields (seconds, when given, replaces the skeleton's wall time) */
  report: Record<string, unknown>;
  /** lines after "wrote FILE" (cluster sizes, ...) */
  lines?: string[];
}

export interface AnnotationMethod<R> {
  /** whether the method reads the file's patch features */
  patches: boolean;
  annotate(input: AnnotateInput): Promise<Annotated<R>> | Annotated<R>;
  /** the condition file beside the features when none is given, e.g. `F-boxes-k10.safetensors` */
  defaultOut(path: string, a: Annotated<R>): string;
  /** judged against the dataset's hidden labels or annotations; null when it has none */
  judge(ds: ImageDataset, a: Annotated<R>): { report: Record<string, unknown>; line: string } | null;
  /** draws the annotations (over the first images) into png; returns the line naming it, or null */
  picture(ds: ImageDataset, a: Annotated<R>, png: string): Promise<string | null>;
}

export interface AnnotateFileOptions {
  /** the condition file (default: beside the features, named by the method) */
  out?: string;
  /** draw the picture (default true) */
  picture?: boolean;
  log?: (msg: string) => void;
}

export interface AnnotateFileResult {
  /** the condition file; its .json report and .png picture sit beside it */
  out: string;
  report: Record<string, unknown>;
  /** what happened, in lines for a person */
  lines: string[];
}

export async function annotateFile<R>(
  path: string,
  method: AnnotationMethod<R>,
  o: AnnotateFileOptions = {},
): Promise<AnnotateFileResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const { feats, ds, imageSize, dispose } = await openFeatures(path, { patches: method.patches });
  try {
    const t0 = performance.now();
    const a = await method.annotate({ path, feats, ds, imageSize, log });
    try {
      const seconds = (performance.now() - t0) / 1000;
      const out = o.out ?? method.defaultOut(path, a);
      saveAnnotations(out, a.annotations);
      const report: Record<string, unknown> = { features: path, out, seconds, ...a.report };
      const lines = [`wrote ${out}`, ...(a.lines ?? [])];
      const judged = ds ? method.judge(ds, a) : null;
      if (judged) {
        Object.assign(report, judged.report);
        lines.push(judged.line);
      }
      const drawn =
        ds && (o.picture ?? true) ? await method.picture(ds, a, out.replace(/\.safetensors$/, '.png')) : null;
      if (drawn) lines.push(drawn);
      writeFileSync(out.replace(/\.safetensors$/, '.json'), `${JSON.stringify(report, null, 2)}\n`);
      return { out, report, lines };
    } finally {
      disposeAnnotations(a.annotations);
    }
  } finally {
    dispose();
  }
}

/** The indices of the first images a picture draws (at most 32). */
export const firstImages = (ds: ImageDataset): number[] => Array.from({ length: Math.min(32, ds.length) }, (_, i) => i);
