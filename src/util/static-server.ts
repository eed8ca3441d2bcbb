// A static file server for an exported web folder (selfguided export --format web): files by path, the
// MIME types browsers insist on for modules and WebAssembly, and optionally the cross-origin isolation
// headers under which onnxruntime-web runs WebAssembly on several threads.
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';

/** The types of an exported web folder's files, as browsers insist on them for modules and WebAssembly. */
export const WEB_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
};

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

export function serveFolder(dir: string, o: { isolated?: boolean; port?: number } = {}): Promise<StaticServer> {
  const root = resolve(dir);
  const srv = http.createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://h').pathname));
    const file = join(root, path === '/' ? 'index.html' : path);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, {
      'content-type': WEB_TYPES[extname(file)] ?? 'application/octet-stream',
      ...(o.isolated
        ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' }
        : {}),
    });
    res.end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    srv.once('error', fail);
    srv.listen(o.port ?? 0, '127.0.0.1', () =>
      ok({
        url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`,
        close: () => new Promise((done) => srv.close(() => done())),
      }),
    );
  });
}
