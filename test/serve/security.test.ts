// What the web app lets in, tried as a hostile site and a hostile file would: requests addressed by a
// rebinding name, cross-site state changes, a checkpoint whose metadata carries markup, an SVG with
// script, the token in the log, a symbolic link to a run elsewhere, and floods of sampling jobs.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { hostAllowed, hostName, redactUrl } from '../../src/serve/guard.js';
import { JobQueue, requestWork, SampleRequest, type JobView } from '../../src/serve/jobs.js';
import type { RunSummary } from '../../src/serve/runs.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { craftCheckpointMetadata, trainTinyRun } from '../helpers/tiny-run.js';

interface Reply {
  status: number;
  headers: Record<string, unknown>;
  body: string;
}

function call(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  return new Promise<Reply>((ok, bad) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        ok({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', bad);
    req.end(body);
  });
}

const json = { 'content-type': 'application/json' };
const postJson = (port: number, path: string, value: unknown, headers: Record<string, string> = {}) =>
  call(port, path, { ...json, ...headers }, 'POST', JSON.stringify(value));

let base: string;
let root: string;
let server: RunningServer;

before(async () => {
  base = mkdtempSync(join(tmpdir(), 'sg-security-'));
  root = join(base, 'runs');
  await trainTinyRun(join(root, 'a'));
  cpSync(join(root, 'a'), join(root, 'b'), { recursive: true });
  cpSync(join(root, 'a'), join(root, 'evil'), { recursive: true });
  craftCheckpointMetadata(join(root, 'evil'), 'conditions', (c) => {
    c.numIds = '<img src=x onerror=alert(3)>';
  });
  writeFileSync(
    join(root, 'a', 'drawing.svg'),
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>',
  );
  // A run and a condition file outside the root, reached by symbolic links inside it.
  cpSync(join(root, 'a'), join(base, 'elsewhere', 'secret-run'), { recursive: true });
  symlinkSync(join(base, 'elsewhere', 'secret-run'), join(root, 'linked-run'));
  saveAnnotations(join(base, 'elsewhere', 'secret-ids.safetensors'), {
    assignments: Int32Array.from({ length: 64 }, (_, i) => i % 10),
    k: 10,
    centroids: null,
    vectors: null,
    kind: 'onehot',
    meta: {},
  });
  symlinkSync(join(base, 'elsewhere', 'secret-ids.safetensors'), join(root, 'linked-ids.safetensors'));
  server = await startServer({ root, port: 0, jobs: { maxQueued: 1 } });
});
after(() => server.close());

describe('the web app against other sites and hostile files', () => {
  test('Host names: this machine and the bound address; any name only when bound to every interface', () => {
    assert.equal(hostName('LocalHost:8080'), 'localhost');
    assert.equal(hostName('[::1]:8080'), '::1');
    assert.equal(hostName('evil.example'), 'evil.example');
    for (const h of ['127.0.0.1:9', 'localhost', '[::1]:80']) assert.ok(hostAllowed(h, '127.0.0.1'), h);
    for (const h of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example', '10.0.0.5:80'])
      assert.ok(!hostAllowed(h, '127.0.0.1'), h);
    assert.ok(hostAllowed('10.0.0.5:80', '10.0.0.5'));
    assert.ok(hostAllowed('anything.example', '0.0.0.0'));
  });

  test("a request addressed by another name (DNS rebinding) is refused; by this machine's names it is served", async () => {
    for (const host of ['evil.example', `evil.example:${server.port}`]) {
      for (const path of ['/files/a/config.json', '/', '/api/runs', '/run?path=a']) {
        const r = await call(server.port, path, { host });
        assert.equal(r.status, 403, `${host} ${path}`);
        assert.doesNotMatch(r.body, /batchSize/);
      }
    }
    for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, `[::1]:${server.port}`])
      assert.equal((await call(server.port, '/files/a/config.json', { host })).status, 200, host);
  });

  test("state changes only from the app's own pages: cross-origin and non-JSON posts start nothing", async () => {
    const body = JSON.stringify({ run: 'a', n: 1, steps: 1 });
    const origin = `http://127.0.0.1:${server.port}`;
    for (const [headers, status] of [
      [{ origin: 'http://evil.example', 'content-type': 'text/plain' }, 403],
      [{ 'content-type': 'text/plain' }, 415],
      [{ 'content-type': 'application/x-www-form-urlencoded', origin }, 415],
      [{ origin: 'http://evil.example', ...json }, 403],
      [{ origin: 'null', ...json }, 403],
      [{ 'sec-fetch-site': 'cross-site', ...json }, 403],
    ] as [Record<string, string>, number][]) {
      const r = await call(server.port, '/api/sample', headers, 'POST', body);
      assert.equal(r.status, status, JSON.stringify(headers));
      assert.doesNotMatch(r.body, /"id"/, 'no job');
    }
    const mine = await call(
      server.port,
      '/api/sample',
      { origin, 'sec-fetch-site': 'same-origin', ...json },
      'POST',
      body,
    );
    assert.equal(mine.status, 202, mine.body);
    const { id } = JSON.parse(mine.body) as JobView;
    const cancel = await call(
      server.port,
      `/api/jobs/${id}/cancel`,
      { origin: 'http://evil.example', ...json },
      'POST',
      '{}',
    );
    assert.equal(cancel.status, 403);
    const plain = await call(server.port, `/api/jobs/${id}/cancel`, { 'content-type': 'text/plain' }, 'POST', '{}');
    assert.equal(plain.status, 415);
    const j = JSON.parse((await call(server.port, `/api/jobs/${id}`)).body) as JobView;
    assert.notEqual(j.state, 'cancelled');
    assert.equal((await postJson(server.port, `/api/jobs/${id}/cancel`, {})).status, 200);
  });

  test('a checkpoint whose metadata carries markup is refused with the field, never put in a page', async () => {
    const r = await call(server.port, '/playground?path=evil', { accept: 'text/html' });
    assert.equal(r.status, 422);
    assert.match(r.body, /metadata &#39;conditions&#39;.*numIds/);
    assert.doesNotMatch(r.body, /<img src=x/);
    const sample = await postJson(server.port, '/api/sample', { run: 'evil', n: 1, steps: 1 });
    assert.equal(sample.status, 202, 'the sampler refuses it in its own process');
    const { id } = JSON.parse(sample.body) as JobView;
    let j: JobView = JSON.parse(sample.body) as JobView;
    for (let i = 0; i < 300 && (j.state === 'queued' || j.state === 'running'); i++) {
      await new Promise((ok) => setTimeout(ok, 100));
      j = JSON.parse((await call(server.port, `/api/jobs/${id}`)).body) as JobView;
    }
    assert.equal(j.state, 'failed');
    assert.match(j.error!, /numIds/);
  });

  test('every page carries a policy that forbids inline script and style; files are sandboxed (an SVG runs nothing)', async () => {
    for (const path of ['/', '/run?path=a', '/playground?path=a', '/annotations', '/reports', '/nope']) {
      const r = await call(server.port, path, { accept: 'text/html' });
      const csp = String(r.headers['content-security-policy']);
      assert.match(csp, /script-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.doesNotMatch(r.body, /<script>/, `${path}: no inline script`);
      assert.match(csp, /style-src 'self'(;|$)/, path);
      assert.doesNotMatch(r.body, /<style|style="/, `${path}: no inline style`);
      assert.equal(r.headers['x-frame-options'], 'DENY');
    }
    const svg = await call(server.port, '/files/a/drawing.svg');
    assert.equal(svg.status, 200);
    assert.match(String(svg.headers['content-security-policy']), /default-src 'none'.*sandbox/);
    const png = await call(server.port, '/files/a/previews/step-00000002.png');
    assert.match(String(png.headers['content-security-policy']), /sandbox/);
  });

  test('lists name only what the pages serve: no run or condition file behind a link out of the folder', async () => {
    assert.equal((await call(server.port, '/run?path=linked-run')).status, 403);
    const runs = JSON.parse((await call(server.port, '/api/runs')).body) as RunSummary[];
    assert.deepEqual(
      runs.map((r) => r.path),
      ['a', 'b', 'evil'],
    );
    assert.doesNotMatch((await call(server.port, '/')).body, /linked-run|secret/);
    assert.doesNotMatch((await call(server.port, '/annotations')).body, /linked-ids|secret/);
  });

  test('one job at a time on the machine, a bounded queue (429), bounded work per request (413)', async () => {
    const big = await postJson(server.port, '/api/sample', { run: 'a', n: 64, sampler: 'heun', steps: 1000 });
    assert.equal(big.status, 413);
    assert.match(JSON.parse(big.body).error, /64 images x 1999 network evaluations = 127936.* at most 32000/);
    const long = await postJson(server.port, '/api/sample', { run: 'a', n: 32, sampler: 'ddpm', steps: 1000 });
    const first = JSON.parse(long.body) as JobView;
    const other = await postJson(server.port, '/api/sample', { run: 'b', n: 2, steps: 2 });
    const second = JSON.parse(other.body) as JobView;
    assert.equal(second.state, 'queued', 'another model waits too: one job per machine');
    const third = await postJson(server.port, '/api/sample', { run: 'b', n: 2, steps: 2 });
    assert.equal(third.status, 429);
    assert.match(JSON.parse(third.body).error, /the queue is full \(1 jobs waiting\)/);
    await postJson(server.port, `/api/jobs/${first.id}/cancel`, {});
    let j = second;
    for (let i = 0; i < 600 && (j.state === 'queued' || j.state === 'running'); i++) {
      await new Promise((ok) => setTimeout(ok, 100));
      j = JSON.parse((await call(server.port, `/api/jobs/${second.id}`)).body) as JobView;
    }
    assert.equal(j.state, 'done', j.error ?? '');
  });

  test('the work of a request counts images and network evaluations', () => {
    const w = (r: unknown) => requestWork(SampleRequest.parse({ run: 'a', ...(r as object) }));
    assert.equal(w({ n: 10, sampler: 'ddim', steps: 50 }), 500);
    assert.equal(w({ ids: [0, 1, 2], perId: 4, sampler: 'heun', steps: 10 }), 12 * 19);
    assert.equal(w({ boxes: [{ box: [0, 0, 1, 1], id: 0 }], perId: 5, steps: 20 }), 100);
  });

  test('ended jobs are forgotten: past the count kept, the oldest first', () => {
    const q = new JobQueue(root, () => {}, { maxEnded: 1, concurrent: 1 });
    const req = SampleRequest.parse({ run: 'a', n: 1, steps: 1 });
    const running = q.submit(join(root, 'a'), req);
    const a = q.submit(join(root, 'a'), req);
    const b = q.submit(join(root, 'a'), req);
    assert.equal(q.size, 3);
    q.cancel(a.id);
    q.cancel(b.id);
    assert.equal(q.get(a.id), null, 'the older ended job is gone');
    assert.equal(q.get(b.id)?.state, 'cancelled');
    q.closeAll();
    assert.equal(q.get(running.id)?.state, 'cancelled');
    assert.equal(q.size, 1);
    const quick = new JobQueue(root, () => {}, { keepEndedMs: 0 });
    const c = quick.submit(join(root, 'a'), req);
    quick.cancel(c.id);
    assert.equal(quick.get(c.id), null, 'kept for no time');
  });

  test('the token never reaches the log, even when a request fails inside', async () => {
    const other = join(base, 'broken-runs');
    mkdirSync(join(other, 'broken', 'config.json'), { recursive: true }); // a folder where a file should be
    writeFileSync(join(other, 'broken', 'metrics.jsonl'), '');
    const logged: string[] = [];
    const s = await startServer({ root: other, host: '0.0.0.0', port: 0, log: (m) => logged.push(m) });
    try {
      const r = await call(s.port, `/run?path=broken&token=${s.token}`);
      assert.equal(r.status, 500);
      assert.ok(logged.length > 0, 'the failure is logged');
      assert.ok(!logged.join('\n').includes(s.token!), 'without the token');
      assert.match(logged.join('\n'), /token=\[redacted\]/);
      assert.equal((await call(s.port, `/api/runs?token=${s.token}`, { host: 'any.name.example' })).status, 200);
    } finally {
      await s.close();
    }
    assert.equal(redactUrl('/a?x=1&token=abc&y=2'), '/a?x=1&token=[redacted]&y=2');
  });
});
