// Browser benchmark (not a test): sizes of what the page downloads, cold start to first map,
// and the warm median estimate time, per backend and method, in headless chromium.
//   node tests/e2e/bench.mjs [--webgpu] [--clicks 10] [--samples 200] [--methods fm-rme-small,kriging,idw,radiodun-small]
// --webgpu starts chromium with WebGPU (SwiftShader here); without it the page runs on the CPU
// backend. Build first: scripts/demo.sh --no-serve (release). Prints a Markdown table.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import os from 'node:os';
import { serve, browser, page, estimated, DIST } from './harness.mjs';

const args = process.argv.slice(2);
const webgpu = args.includes('--webgpu');
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const clicks = Number(opt('--clicks', 10)) || 10;
const methods = opt('--methods', 'fm-rme-small,kriging,idw').split(',');
// Samples on the D7 scene (`rme bench` times FM-RME from 400).
const samples = Number(opt('--samples', 200)) || 200;
// The urban grid models run on the urban scene (128², buildings); the others on D7 (64²).
const URBAN = /^(radiodun|radiounet|autoencoder)-/;
const sceneOf = (m) => (URBAN.test(m) ? 'preset=urban&seed=2&samples=100' : `preset=D7&seed=3&samples=${samples}`);

function size(rel) {
  const f = path.join(DIST, rel);
  if (!fs.existsSync(f)) return null;
  const raw = fs.readFileSync(f);
  return { raw: raw.length, gzip: zlib.gzipSync(raw, { level: 9 }).length };
}

const mb = (n) => (n / 1e6).toFixed(2);
const rows = [];
for (const rel of ['rme-web_bg.wasm', 'rme-web.js', 'static/models/fm-rme-small/model.bpk']) {
  const s = size(rel);
  if (s) rows.push(`| ${rel} | ${mb(s.raw)} MB | ${mb(s.gzip)} MB |`);
}
console.log('| file | raw | gzip -9 |\n|---|---|---|\n' + rows.join('\n'));

const server = await serve();
const b = await browser({ webgpu });
const out = [];
try {
  for (const method of methods) {
    const errors = [];
    const p = await page(b, errors);
    const t0 = Date.now();
    await p.goto(`${server.url}?${sceneOf(method)}&method=${method}`);
    await estimated(p, 1);
    const coldMs = Date.now() - t0;
    const backend = await p.evaluate(() => document.body.dataset.backend);
    const box = await p.locator('#map').boundingBox();
    for (let i = 0; i < clicks; i++) {
      // A click in the urban scene may fall on a building (refused): there the estimate is
      // triggered by re-drawing the N random street samples instead.
      if (URBAN.test(method)) await p.click('#sample');
      else await p.mouse.click(box.x + box.width * (0.1 + 0.08 * i), box.y + box.height * (0.2 + 0.05 * i));
      await estimated(p, i + 2);
    }
    const read = (id) => p.locator(id).textContent();
    out.push(`| ${backend} | ${method} | ${coldMs} ms | ${await read('#t-init')} | ${await read('#t-first')} | ${await read('#t-median')} | ${errors.length} |`);
    await p.close();
  }
} finally {
  await b.close();
  await server.close();
}
console.log(`\nD7, seed 3, ${samples} samples, 64×64 map (urban models: urban scene, seed 2, 100 samples, 128×128); ${clicks} clicks for the median (of at most the last 10); ${os.cpus().length} cores (${os.cpus()[0].model})`);
console.log('| backend | method | navigation → first map | init (engine + weights + warm-up) | first estimate | median of last 10 | console errors |\n|---|---|---|---|---|---|---|\n' + out.join('\n'));
