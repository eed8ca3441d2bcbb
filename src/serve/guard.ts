// Who may talk to the server. A local server is reachable from every web page the user opens, so it
// answers only requests addressed to it by name (DNS rebinding gives a hostile site's name), takes state
// changes only from its own pages (same origin, a JSON body: a cross-site form or text/plain POST needs
// no preflight), and beyond this machine only requests that carry the printed token. Jupyter's rules.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './safe-path.js';

export const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** The host part of a Host header, lower-cased, brackets kept off IPv6 literals. */
export function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/**
 * The names a request may address the server by: this machine's, and the address it was bound to.
 * Bound to every interface, any name (the token guards it then).
 */
export function hostAllowed(header: string | undefined, bound: string): boolean {
  if (header === undefined) return true; // HTTP/1.0 without Host: no browser sends that
  if (WILDCARD_HOSTS.has(bound)) return true;
  const name = hostName(header);
  return LOCAL_HOSTS.has(name) || name === hostName(bound.includes(':') ? `[${bound}]` : bound);
}

/**
 * A state-changing request must come from the server's own pages: an Origin, when sent, equal to the
 * server's (scheme, host and port of the Host header), a browser's Sec-Fetch-Site, when sent, same-origin,
 * and a JSON body.
 */
export function checkStateChange(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`)
    throw new HttpError(403, `cross-origin request refused (Origin ${origin})`);
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site ${String(site)})`);
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json')
    throw new HttpError(415, `state-changing requests need Content-Type: application/json, got '${type}'`);
}

/** Whether the request carries the token (in the query, or the cookie a first visit with it set). */
export function authorized(req: IncomingMessage, url: URL, token: string | null, res: ServerResponse): boolean {
  if (token === null) return true;
  const given = url.searchParams.get('token') ?? /(?:^|;\s*)sg_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  const ok =
    given !== undefined && given.length === token.length && timingSafeEqual(Buffer.from(given), Buffer.from(token));
  if (ok && url.searchParams.has('token'))
    res.setHeader('set-cookie', `sg_token=${token}; HttpOnly; SameSite=Strict; Path=/`);
  return ok;
}

/** A request URL fit for a log: any token's value replaced. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}

/**
 * Content-Security-Policy of the app's pages: scripts only from the server's own files (no inline
 * script, so markup that slipped through escaping cannot run), nothing framed, nothing loaded from
 * elsewhere.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * Of files served from the runs and reports folders: a sandbox with no script at all, so an SVG (or
 * anything else) someone put there cannot run script in the app's origin even when opened directly.
 */
export const FILE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox";
