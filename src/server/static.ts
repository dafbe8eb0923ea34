/**
 * The dashboard's files, served from one folder (`web/` of the package, or `web dir`) and never from
 * anywhere else: the request path is percent-decoded once, refused when it holds `..`, a backslash, a NUL or
 * a hidden segment, joined to the root, resolved with realpath (symbolic links followed) and served only
 * when the result is a regular file inside the root's own real path. Nothing else of the request reaches the
 * filesystem.
 */

import { createReadStream, realpathSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, BASE_HEADERS } from './http.js';

/** `web/` next to dist/ and src/ in the package. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../web', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Scripts from our own origin only; no inline scripts, no framing, no plugins. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export class StaticFiles {
  readonly root: string;
  private realRoot: string | undefined;

  constructor(root: string) {
    this.root = root;
  }

  private rootReal(): string | undefined {
    if (this.realRoot === undefined) {
      try {
        this.realRoot = realpathSync(this.root);
      } catch {
        return undefined;
      }
    }
    return this.realRoot;
  }

  /**
   * The file for a raw (still percent-encoded) request path, or an ApiError: 400 for a malformed or
   * traversing path, 404 when there is no such file inside the root.
   */
  resolve(rawPath: string): { file: string; size: number; mtimeMs: number } {
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawPath);
    } catch {
      throw new ApiError(400, 'E_API_BAD_PATH', 'the path is not valid percent-encoding');
    }
    if (decoded.includes('\0') || decoded.includes('\\')) {
      throw new ApiError(400, 'E_API_BAD_PATH', 'the path holds a NUL or a backslash');
    }
    const segments = decoded.split('/').filter((s) => s !== '');
    if (segments.some((s) => s === '..' || s === '.')) {
      throw new ApiError(400, 'E_API_BAD_PATH', 'the path holds a ".." or "." segment');
    }
    if (segments.some((s) => s.startsWith('.'))) throw new ApiError(404, 'E_API_NOT_FOUND', 'no such file');
    const root = this.rootReal();
    if (root === undefined) {
      throw new ApiError(404, 'E_API_NOT_FOUND', `the dashboard is not installed (no ${this.root})`);
    }
    if (decoded.endsWith('/') || segments.length === 0) segments.push('index.html');
    let real: string;
    try {
      real = realpathSync(join(root, ...segments));
    } catch {
      throw new ApiError(404, 'E_API_NOT_FOUND', 'no such file');
    }
    if (real !== root && !real.startsWith(root + sep)) {
      // A symbolic link inside the folder pointing out of it.
      throw new ApiError(403, 'E_API_BAD_PATH', 'the path leads outside the dashboard folder');
    }
    let st = statSync(real);
    if (st.isDirectory()) {
      real = join(real, 'index.html');
      try {
        st = statSync(real);
      } catch {
        throw new ApiError(404, 'E_API_NOT_FOUND', 'no such file');
      }
    }
    if (!st.isFile()) throw new ApiError(404, 'E_API_NOT_FOUND', 'no such file');
    return { file: real, size: st.size, mtimeMs: st.mtimeMs };
  }

  serve(res: ServerResponse, rawPath: string, ifNoneMatch: string | undefined, head: boolean): void {
    const f = this.resolve(rawPath);
    const etag = `"${f.size.toString(36)}-${Math.floor(f.mtimeMs).toString(36)}"`;
    const type = TYPES[extname(f.file).toLowerCase()] ?? 'application/octet-stream';
    const headers: Record<string, string> = {
      ...BASE_HEADERS,
      'Cache-Control': 'no-cache',
      ETag: etag,
      'Content-Type': type,
    };
    if (type.startsWith('text/html')) headers['Content-Security-Policy'] = CSP;
    if (ifNoneMatch === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers['Content-Length'] = String(f.size);
    res.writeHead(200, headers);
    if (head) {
      res.end();
      return;
    }
    const stream = createReadStream(f.file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }
}
