// The web app's server against a tiny run made here: the runs list and run page, live metrics over
// server-sent events, files under the runs folder only (traversal and symlink escapes refused), bad
// parameters answered 400 with a message, and the token beyond localhost.
import assert from 'node:assert/strict';
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { loadFashionMnist } from '../../src/data/fashion-mnist.js';
import type { AnnotationView } from '../../src/eval/annotation-view.js';
import type { RenderState } from '../../src/serve/annotations.js';
import { trainTinyRun } from '../helpers/tiny-run.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import type { JobView } from '../../src/serve/jobs.js';
import type { RunSummary } from '../../src/serve/runs.js';

/** A raw request (no URL normalisation, so '..' reaches the server as sent). */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((ok, bad) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', bad);
    req.end(body);
  });
}

const post = (port: number, path: string, value: unknown) =>
  get(
    port,
    path,
    { 'content-type': 'application/json' },
    'POST',
    typeof value === 'string' ? value : JSON.stringify(value),
  );

async function waitForJob(port: number, id: string, until: (j: JobView) => boolean): Promise<JobView> {
  for (let i = 0; i < 600; i++) {
    const j = JSON.parse((await get(port, `/api/jobs/${id}`)).body.toString()) as JobView;
    if (until(j)) return j;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`job ${id} did not get there`);
}

let root: string;
let server: RunningServer;

before(async () => {
  root = join(mkdtempSync(join(tmpdir(), 'sg-serve-')), 'runs');
  await trainTinyRun(join(root, 'fm', 'a'));
  // Self-labels of the run's 64 images (their hidden labels), and a file that names a dataset of another size.
  const ds = loadFashionMnist({ limit: 64 });
  const ids = {
    assignments: Int32Array.from(ds.labels!),
    k: 10,
    centroids: null,
    vectors: null,
    kind: 'onehot' as const,
  };
  saveAnnotations(join(root, 'fm', 'ids.safetensors'), {
    ...ids,
    meta: { dataSpec: '{"kind":"fashion-mnist","limit":64}' },
  });
  saveAnnotations(join(root, 'fm', 'bad.safetensors'), {
    ...ids,
    meta: { dataSpec: '{"kind":"fashion-mnist","limit":32}' },
  });
  ds.dispose();
  server = await startServer({ root, port: 0, pollMs: 50 });
});
after(() => server.close());

describe('selfguided serve', () => {
  test('lists the run with its kind, state, progress, loss and previews', async () => {
    const r = await get(server.port, '/api/runs');
    assert.equal(r.status, 200);
    const runs = JSON.parse(r.body.toString()) as RunSummary[];
    assert.equal(runs.length, 1);
    const a = runs[0]!;
    assert.deepEqual([a.path, a.kind, a.state, a.step, a.steps], ['fm/a', 'diffusion', 'finished', 4, 4]);
    assert.ok(typeof a.loss === 'number' && a.loss > 0);
    assert.deepEqual(a.previews, ['fm/a/previews/step-00000002.png', 'fm/a/previews/step-00000004.png']);
    const page = (await get(server.port, '/')).body.toString();
    assert.match(page, /href="\/run\?path=fm%2Fa"/);
    assert.match(page, /class="state finished"/);
  });

  test('the run page shows config, previews and the live chart', async () => {
    const r = await get(server.port, '/run?path=fm%2Fa');
    assert.equal(r.status, 200);
    const html = r.body.toString();
    assert.match(html, /&quot;batchSize&quot;: 8/);
    assert.match(html, /src="\/files\/fm\/a\/previews\/step-00000004.png"/);
    assert.match(html, /<script src="\/app\/run.js"><\/script>/);
    const script = await get(server.port, '/app/run.js');
    assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(script.body.toString(), /new EventSource\('\/api\/stream\?path='/);
    assert.match(html, /<link rel="stylesheet" href="\/app\/style.css">/);
    const css = await get(server.port, '/app/style.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.match(css.body.toString(), /#chart \{/);
    assert.equal((await get(server.port, '/app/tsconfig.json')).status, 404);
    const png = await get(server.port, '/files/fm/a/previews/step-00000004.png');
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
    assert.deepEqual(png.body, readFileSync(join(root, 'fm', 'a', 'previews', 'step-00000004.png')));
  });

  test('the event stream sends the metrics so far, then each new record', async () => {
    const events: { event: string; data: unknown }[] = [];
    await new Promise<void>((ok, bad) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/api/stream?path=fm/a' }, (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream');
        let buf = '';
        let appended = false;
        res.on('data', (c: Buffer) => {
          buf += c.toString();
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.+)$/m.exec(block)![1]!;
            events.push({ event, data: JSON.parse(/^data: (.+)$/m.exec(block)![1]!) });
          }
          const metrics = events.filter((e) => e.event === 'metrics');
          if (metrics.length === 1 && !appended) {
            appended = true;
            appendFileSync(join(root, 'fm', 'a', 'metrics.jsonl'), '{"step":6,"loss":0.5}\n{"step":8,"lo');
          }
          if (metrics.length === 2) {
            req.destroy();
            ok();
          }
        });
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? ok() : bad(e)));
      req.end();
    });
    const metrics = events.filter((e) => e.event === 'metrics').map((e) => e.data as { step: number }[]);
    assert.deepEqual(
      metrics[0]!.map((r) => r.step),
      [2, 4],
    );
    assert.deepEqual(metrics[1], [{ step: 6, loss: 0.5 }], 'the half-written line waits');
    const state = events.find((e) => e.event === 'state')!.data as { state: string };
    assert.equal(state.state, 'finished');
  });

  test('only files under the runs folder, of the kinds it serves', async () => {
    symlinkSync('/etc', join(root, 'escape'));
    for (const path of [
      '/files/../../etc/passwd',
      '/files/..%2f..%2fetc%2fpasswd',
      '/files/fm/a/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/files/escape/passwd',
    ]) {
      const r = await get(server.port, path);
      assert.ok([403, 404].includes(r.status), `${path}: ${r.status}`);
      assert.doesNotMatch(r.body.toString(), /root:/, path);
    }
    assert.equal((await get(server.port, '/files/..%2f..%2fetc%2fpasswd')).status, 403);
    assert.equal((await get(server.port, '/files/escape/passwd')).status, 403);
    const ck = await get(server.port, '/files/fm/a/checkpoints/step-00000004.safetensors');
    assert.equal(ck.status, 403);
    assert.equal((await get(server.port, '/files/fm/a/nothing.png')).status, 404);
  });

  test('bad parameters get 400 or 404 with a message; other methods 405', async () => {
    const noPath = await get(server.port, '/run');
    assert.equal(noPath.status, 400);
    assert.match(JSON.parse(noPath.body.toString()).error, /missing query parameter: path/);
    assert.equal((await get(server.port, '/run?path=fm')).status, 404);
    assert.equal((await get(server.port, '/api/metrics?path=..%2F..')).status, 403);
    const html = await get(server.port, '/run?path=nope', { accept: 'text/html' });
    assert.equal(html.status, 404);
    assert.match(html.body.toString(), /<h1>404<\/h1>/);
    assert.equal((await get(server.port, '/', {}, 'POST')).status, 405);
    assert.equal((await get(server.port, '/no/such/page')).status, 404);
  });

  test('beyond localhost every request needs the token; the token sets a cookie', async () => {
    const open = await startServer({ root, host: '0.0.0.0', port: 0 });
    try {
      assert.ok(open.token && open.url.includes(`?token=${open.token}`));
      assert.equal((await get(open.port, '/api/runs')).status, 401);
      assert.equal((await get(open.port, '/api/runs?token=wrong')).status, 401);
      const first = await get(open.port, `/?token=${open.token}`);
      assert.equal(first.status, 200);
      const cookie = String((first.headers['set-cookie'] as string[])[0]).split(';')[0]!;
      assert.equal((await get(open.port, '/api/runs', { cookie })).status, 200);
    } finally {
      await open.close();
    }
  });

  test('the playground page offers ids, the scale slider and the samplers', async () => {
    const r = await get(server.port, '/playground?path=fm/a');
    assert.equal(r.status, 200);
    const html = r.body.toString();
    assert.match(html, /<input id="ids" value="0,1,2,3">/);
    assert.match(html, /id="scale" type="range"/);
    assert.match(html, /<option>dpm\+\+2m<\/option>/);
    assert.equal((await get(server.port, '/playground')).status, 400);
  });

  test('a sampling job runs in its own process and its grid is served', async () => {
    const r = await post(server.port, '/api/sample', { run: 'fm/a', ids: [0, 1], perId: 2, steps: 2, seed: 3 });
    assert.equal(r.status, 202);
    const { id } = JSON.parse(r.body.toString()) as JobView;
    const j = await waitForJob(server.port, id, (x) => x.state !== 'queued' && x.state !== 'running');
    assert.equal(j.state, 'done', j.error ?? '');
    assert.ok(j.progress && j.progress[0] === j.progress[1], 'progress reached its end');
    const png = await get(server.port, `/files/${j.output}`);
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
  });

  test("the run's page for this browser: exported once, its code the app's own, its CSP allows WebAssembly", async () => {
    assert.equal((await get(server.port, '/browser/fm/a/web/model.json')).status, 404, 'nothing before the export');
    const refused = await get(server.port, '/api/export', { 'content-type': 'text/plain' }, 'POST', '{"run":"fm/a"}');
    assert.equal(refused.status, 415);
    assert.equal((await post(server.port, '/api/export', {})).status, 400);
    const r = await post(server.port, '/api/export', { run: 'fm/a' });
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(JSON.parse(r.body.toString()), { url: '/browser/fm/a/web/' });
    const page = await get(server.port, '/browser/fm/a/web/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self' 'wasm-unsafe-eval'/);
    assert.match(page.body.toString(), /<script type="module" src="start.js"><\/script>/);
    const model = await get(server.port, '/browser/fm/a/web/model.json');
    assert.equal(JSON.parse(model.body.toString()).condDim, 10);
    assert.equal((await get(server.port, '/browser/fm/a/web/model.onnx')).status, 200);
    assert.equal((await get(server.port, '/browser/fm/a/web/page.js')).headers['content-type'], 'text/javascript');
    // A script planted in the run's web folder is never what the app serves.
    writeFileSync(join(root, 'fm', 'a', 'web', 'page.js'), 'alert(1)');
    assert.doesNotMatch((await get(server.port, '/browser/fm/a/web/page.js')).body.toString(), /alert\(1\)/);
    assert.equal((await get(server.port, '/browser/fm/a/web/source.json')).status, 404);
    assert.equal((await get(server.port, '/browser/fm/a/web/../config.json')).status, 404);
    // The same checkpoint is not exported again.
    const before = readFileSync(join(root, 'fm', 'a', 'web', 'source.json'), 'utf8');
    assert.equal((await post(server.port, '/api/export', { run: 'fm/a' })).status, 200);
    assert.equal(readFileSync(join(root, 'fm', 'a', 'web', 'source.json'), 'utf8'), before);
  });

  test('bad requests get 400 with the field; a job that fails says why and the server carries on', async () => {
    for (const [body, re] of [
      ['{not json', /must be JSON/],
      [{ run: 'fm/a', steps: 5000 }, /steps/],
      [{ run: 'fm/a', scale: 'high' }, /scale/],
      [{ run: 'fm/a', colour: 'red' }, /colour|unrecognized/i],
      [{ steps: 2 }, /run/],
      [{ run: 'fm/a', mask: [[0, 1], [1]] }, /square/],
      [{ run: 'fm/a', ids: [0], boxes: [{ box: [0, 0, 0.5, 0.5], id: 0 }] }, /at most one of ids, boxes and mask/],
    ] as const) {
      const r = await post(server.port, '/api/sample', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(JSON.parse(r.body.toString()).error, re);
    }
    assert.equal((await post(server.port, '/api/sample', { run: 'fm/nope' })).status, 404);
    assert.equal((await post(server.port, '/api/sample', 'x'.repeat(70_000))).status, 413);
    const r = await post(server.port, '/api/sample', { run: 'fm/a', ids: [99], steps: 2 });
    const { id } = JSON.parse(r.body.toString()) as JobView;
    const j = await waitForJob(server.port, id, (x) => x.state === 'failed' || x.state === 'done');
    assert.equal(j.state, 'failed');
    assert.match(j.error!, /id 99 is out of range/);
    assert.equal((await get(server.port, '/api/runs')).status, 200);
  });

  test('a running job is cancelled; the next job of the model then runs', async () => {
    const long = await post(server.port, '/api/sample', { run: 'fm/a', n: 32, sampler: 'ddpm', steps: 1000 });
    const { id } = JSON.parse(long.body.toString()) as JobView;
    const queued = await post(server.port, '/api/sample', { run: 'fm/a', n: 2, steps: 2 });
    const second = JSON.parse(queued.body.toString()) as JobView;
    assert.equal(second.state, 'queued', 'one job per model at a time');
    await waitForJob(server.port, id, (x) => x.state === 'running');
    const c = await post(server.port, `/api/jobs/${id}/cancel`, {});
    assert.equal(JSON.parse(c.body.toString()).state, 'cancelled');
    const next = await waitForJob(server.port, second.id, (x) => x.state === 'done' || x.state === 'failed');
    assert.equal(next.state, 'done', next.error ?? '');
    assert.equal((await post(server.port, '/api/jobs/ffff/cancel', {})).status, 404);
  });

  test('self-annotations: the condition files are listed; a view renders in a child process and is served', async () => {
    const list = (await get(server.port, '/annotations')).body.toString();
    assert.match(list, /href="\/annotation\?path=fm%2Fids.safetensors"/);
    assert.doesNotMatch(list, /checkpoints/, 'checkpoints are not condition files');
    const first = await get(server.port, '/annotation?path=fm%2Fids.safetensors');
    assert.equal(first.status, 200);
    assert.match(first.body.toString(), /rendering the view/);
    let s: RenderState = { state: 'rendering' };
    for (let i = 0; i < 300 && s.state === 'rendering'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = JSON.parse(
        (await get(server.port, '/api/annotation?path=fm/ids.safetensors')).body.toString(),
      ) as RenderState;
    }
    assert.equal(s.state, 'ready', JSON.stringify(s));
    const v = (s as { view: AnnotationView }).view;
    assert.equal(
      v.ids!.sizes.reduce((a, b) => a + b, 0),
      64,
    );
    assert.ok(Math.abs(v.quality.labels!.nmi - 1) < 1e-9, 'self-labels equal to the labels');
    const html = (await get(server.port, '/annotation?path=fm%2Fids.safetensors')).body.toString();
    assert.match(html, /NMI 1.0000/);
    const src = /<img alt="id 0" src="([^"]+)"/.exec(html)![1]!;
    const png = await get(server.port, src);
    assert.equal(png.status, 200);
    assert.equal(png.headers['content-type'], 'image/png');
    const run = (await get(server.port, '/run?path=fm%2Fa')).body.toString();
    assert.doesNotMatch(run, /id="condition"/, 'the tiny run is label-guided, not from a file');
  });

  test('self-annotations: a view that cannot render says why; bad paths get 400, 403 or 404', async () => {
    let s: RenderState = { state: 'rendering' };
    for (let i = 0; i < 300 && s.state === 'rendering'; i++) {
      s = JSON.parse(
        (await get(server.port, '/api/annotation?path=fm/bad.safetensors')).body.toString(),
      ) as RenderState;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(s.state, 'failed');
    assert.match((s as { error: string }).error, /annotates 64 images but the dataset .* has 32/);
    assert.equal((await get(server.port, '/api/runs')).status, 200, 'the server carries on');
    assert.equal((await get(server.port, '/annotation')).status, 400);
    assert.equal((await get(server.port, '/annotation?path=..%2F..%2Fetc%2Fpasswd')).status, 403);
    assert.equal((await get(server.port, '/annotation?path=fm/a/checkpoints/step-00000004.safetensors')).status, 404);
    assert.equal((await get(server.port, '/annotation?path=fm/none.safetensors')).status, 404);
  });

  test('the experiment reports as pages, with their tables and pictures; nothing outside their folder', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'sg-reports-'));
    mkdirSync(join(reports, 'exp'));
    copyFileSync(join(root, 'fm', 'a', 'previews', 'step-00000002.png'), join(reports, 'exp', 'grid.png'));
    writeFileSync(
      join(reports, 'exp.md'),
      '# An experiment\n\n| row | FD |\n|---|---|\n| none | 161.09 |\n\n![grid](exp/grid.png)\n',
    );
    const s = await startServer({ root, reports, port: 0 });
    try {
      const list = (await get(s.port, '/reports')).body.toString();
      assert.match(list, /<a href="\/reports\/exp.md">An experiment<\/a>/);
      const page = await get(s.port, '/reports/exp.md');
      assert.equal(page.status, 200);
      const html = page.body.toString();
      assert.match(html, /<table>[\s\S]*<td>none<\/td>[\s\S]*<td>161.09<\/td>/);
      assert.match(html, /<img src="exp\/grid.png" alt="grid">/);
      const img = await get(s.port, '/reports/exp/grid.png');
      assert.equal(img.status, 200);
      assert.equal(img.headers['content-type'], 'image/png');
      assert.equal((await get(s.port, '/reports/..%2f..%2fetc%2fpasswd')).status, 403);
      assert.equal((await get(s.port, '/reports/nope.md')).status, 404);
    } finally {
      await s.close();
    }
  });
});
