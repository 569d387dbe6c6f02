// Shared pieces of the browser tests: a static server for dist/ (mounted under a sub-path,
// as on a real static host), Debian's chromium through playwright-core, console capture,
// screenshots, and the native `rme` binary for reference numbers.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = path.join(ROOT, 'dist');
export const ARTIFACTS = path.join(ROOT, 'tests/e2e/artifacts');
export const SUB_PATH = '/docs/rme/';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.csv': 'text/csv', '.bpk': 'application/octet-stream',
};

/// Serves dist/ under SUB_PATH on a free port; resolves to {url, close}.
export function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (!url.pathname.startsWith(SUB_PATH)) {
      res.writeHead(404).end('not under the sub-path');
      return;
    }
    let rel = decodeURIComponent(url.pathname.slice(SUB_PATH.length)) || 'index.html';
    if (rel.endsWith('/')) rel += 'index.html';
    const file = path.join(DIST, rel);
    if (!file.startsWith(DIST) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}${SUB_PATH}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--no-first-run',
];

/// Debian's chromium. `webgpu: true` adds --enable-unsafe-webgpu (SwiftShader's WebGPU
/// adapter on a machine without a GPU); without it navigator.gpu gives no adapter, which is
/// how the CPU fallback is exercised.
export async function browser({ webgpu = false } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: webgpu ? [...FLAGS, '--enable-unsafe-webgpu'] : FLAGS,
  });
}

/// A new page that records console errors and uncaught exceptions in `errors`.
export async function page(b, errors) {
  const p = await b.newPage({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  p.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  p.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  p.setDefaultTimeout(Number(process.env.E2E_TIMEOUT_MS ?? 180000));
  return p;
}

export async function screenshot(p, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/// Waits until the demo page has finished `n` estimates and is idle.
export async function estimated(p, n) {
  await p.waitForFunction((k) => Number(document.body.dataset.estimates ?? 0) >= k && document.body.dataset.state === 'ready', n);
}

/// Runs the debug `rme` that `cargo test` built (in $CARGO_TARGET_DIR when that is set).
export function rme(...args) {
  const bin = path.join(process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target'), 'debug/rme');
  return execFileSync(bin, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
