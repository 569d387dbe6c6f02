// The demo page and the widget in headless chromium, against the trunk build in dist/.
// Run by scripts/test.sh (after scripts/build-web.sh); `npm test` in this folder runs them alone.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { serve, browser, page, screenshot, estimated, rme, ROOT, DIST } from './harness.mjs';

let server;
let cpu; // chromium without WebGPU: the CPU fallback

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, 'rme-web_bg.wasm')), 'dist/ has no wasm bundle: run scripts/build-web.sh first');
  server = await serve();
  cpu = await browser();
});

after(async () => {
  await cpu?.close();
  await server?.close();
});

/// The native reference: `rme demo` on the same preset, seed and sample count, with the same
/// weights; returns {method: rmse_db}.
function nativeRmse(preset, seed, samples, methods) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rme-e2e-'));
  rme('demo', '--preset', preset, '--seed', String(seed), '--samples', String(samples), '--methods', methods.join(','),
    '--weights', path.join(ROOT, 'static/models/fm-rme-small'), '--out', out);
  const r = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  return Object.fromEntries(r.methods.map((m) => [m.name, m.rmse_db]));
}

async function pageRmse(p) {
  return Number(await p.locator('#rmse').getAttribute('data-value'));
}

test('the page starts on the CPU backend when there is no WebGPU, estimates, and reacts to clicks', async () => {
  const errors = [];
  const p = await page(cpu, errors);
  await p.goto(`${server.url}?preset=D7&seed=3&samples=200&method=kriging`);
  await estimated(p, 1);
  assert.equal(await p.evaluate(() => document.body.dataset.backend), 'cpu (flex, wasm)');
  assert.match(await p.locator('#backend').textContent(), /no adapter|no WebGPU/);
  const before = await pageRmse(p);
  assert.ok(before > 0 && before < 20, `RMSE ${before}`);
  assert.equal(await p.locator('#count').textContent(), '200');
  // A click on the map adds a measurement: one more estimate, a different RMSE.
  const box = await p.locator('#map').boundingBox();
  await p.mouse.click(box.x + box.width * 0.37, box.y + box.height * 0.61);
  await estimated(p, 2);
  assert.equal(await p.locator('#count').textContent(), '201');
  assert.notEqual(await pageRmse(p), before);
  // The same click again removes it.
  await p.mouse.click(box.x + box.width * 0.37, box.y + box.height * 0.61);
  await estimated(p, 3);
  assert.equal(await p.locator('#count').textContent(), '200');
  assert.ok(Math.abs((await pageRmse(p)) - before) < 1e-9);
  // Dragging a transmitter re-simulates the truth: it is drawn at its new place and the RMSE changes.
  const [tx] = JSON.parse(await p.locator('#map').getAttribute('data-tx'));
  const target = [tx[0] < 0.5 ? tx[0] + 0.3 : tx[0] - 0.3, tx[1] < 0.5 ? tx[1] + 0.3 : tx[1] - 0.3];
  await p.mouse.move(box.x + box.width * tx[0], box.y + box.height * tx[1]);
  await p.mouse.down();
  await p.mouse.move(box.x + box.width * (tx[0] + target[0]) / 2, box.y + box.height * (tx[1] + target[1]) / 2);
  await p.mouse.move(box.x + box.width * target[0], box.y + box.height * target[1]);
  await p.mouse.up();
  await estimated(p, 4);
  const [moved] = JSON.parse(await p.locator('#map').getAttribute('data-tx'));
  assert.ok(Math.hypot(moved[0] - target[0], moved[1] - target[1]) < 0.01, `transmitter at ${moved}, dragged to ${target}`);
  assert.notEqual(await pageRmse(p), before);
  assert.equal(await p.locator('#count').textContent(), '200');
  // Views and sliders work without errors.
  for (const v of ['truth', 'error', 'std', 'estimate']) await p.check(`input[name=view][value=${v}]`);
  await p.locator('#slot').fill('2');
  await estimated(p, 5);
  assert.match(await p.locator('#slot-out').textContent(), /^2 /);
  await screenshot(p, 'demo-cpu');
  assert.deepEqual(errors, []);
  await p.close();
});

test('the RMSE in the page equals the native one (same preset, seed, samples and weights)', async () => {
  const errors = [];
  const native = nativeRmse('D7', 3, 200, ['fm-rme', 'storm', 'kriging', 'idw']);
  const p = await page(cpu, errors);
  const shown = {};
  for (const [method, nativeName] of [['fm-rme-small', 'fm-rme'], ['storm-small', 'storm'], ['kriging', 'kriging'], ['idw', 'idw']]) {
    await p.goto(`${server.url}?preset=D7&seed=3&samples=200&method=${method}`);
    await estimated(p, 1);
    shown[method] = await pageRmse(p);
    await screenshot(p, `demo-${method}`);
    assert.ok(Math.abs(shown[method] - native[nativeName]) < 0.05, `${method}: page ${shown[method]} dB, native ${native[nativeName]} dB`);
  }
  console.log(`RMSE page vs native (D7, seed 3, 200 samples): ${JSON.stringify(shown)} vs ${JSON.stringify(native)}`);
  const timing = {
    init: await p.locator('#t-init').textContent(),
    first: await p.locator('#t-first').textContent(),
  };
  console.log(`timing (cpu, last method): ${JSON.stringify(timing)}`);
  assert.deepEqual(errors, []);
  await p.close();
});

test('CSV upload: a good file is estimated and downloadable; bad files give their error and the page keeps working', async () => {
  const errors = [];
  const p = await page(cpu, errors);
  await p.goto(`${server.url}?preset=D1&seed=2&samples=100&method=idw`);
  await estimated(p, 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rme-e2e-csv-'));
  const write = (name, text) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  let good = 'x_m,y_m,power_dbm\n';
  for (let i = 0; i < 150; i++) good += `${(i * 37) % 120},${(i * 53) % 90},${(-60 - ((i * 7) % 30)).toFixed(1)}\n`;
  await p.setInputFiles('#upload', write('drive.csv', good));
  await estimated(p, 2);
  assert.equal(await p.locator('#count').textContent(), '150');
  assert.match(await p.locator('#scene-info').textContent(), /drive\.csv: 150 measurements/);
  const [dl] = await Promise.all([p.waitForEvent('download'), p.click('#dl-csv')]);
  const csv = fs.readFileSync(await dl.path(), 'utf8').trim().split('\n');
  assert.match(csv[0], /^x_m,y_m/);
  assert.equal(csv.length - 1, 64 * Number((await p.locator('#scene-info').textContent()).match(/(\d+)×64|64×(\d+)/).slice(1).find(Boolean)));
  const [png] = await Promise.all([p.waitForEvent('download'), p.click('#dl-png')]);
  assert.deepEqual([...fs.readFileSync(await png.path()).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  await screenshot(p, 'demo-upload');

  const cases = [
    ['columns.csv', 'x_m,power_dbm\n1,-60\n', /columns\.csv.*y_m/],
    ['nan.csv', 'x_m,y_m,power_dbm\n0,0,-60\n1,1,NaN\n', /nan\.csv line 3/],
    ['huge.csv', 'x_m,y_m,power_dbm\n' + Array.from({ length: 100000 }, (_, i) => `${i % 1000},${Math.floor(i / 1000)},-70`).join('\n'), /100000 measurements.*at most 20000/],
  ];
  for (const [name, text, want] of cases) {
    await p.setInputFiles('#upload', write(name, text));
    await p.waitForFunction(() => document.getElementById('upload-error').textContent.length > 0);
    assert.match(await p.locator('#upload-error').textContent(), want);
    if (name === 'columns.csv') await screenshot(p, 'demo-bad-csv');
  }
  // Still working: back to the scene, a new estimate.
  const n = Number(await p.evaluate(() => document.body.dataset.estimates));
  await p.click('#back');
  await estimated(p, n + 1);
  assert.ok((await pageRmse(p)) > 0);
  assert.deepEqual(errors, []);
  await p.close();
});

test('the fuzz corpus\'s 20 worst measurement files: each gives its error (or loads), and the page keeps working', async () => {
  const fixtures = path.join(ROOT, 'tests/e2e/fixtures/fuzz');
  const files = fs.readdirSync(fixtures).filter((f) => f.endsWith('.csv')).sort();
  assert.equal(files.length, 20, `tests/e2e/fixtures/fuzz holds ${files.length} files (scripts/fuzz.sh writes them)`);
  const errors = [];
  const p = await page(cpu, errors);
  await p.goto(`${server.url}?preset=D1&seed=2&samples=100&method=idw`);
  await estimated(p, 1);
  let rejected = 0;
  for (const f of files) {
    await p.evaluate(() => { document.getElementById('upload-error').textContent = ''; });
    await p.setInputFiles('#upload', path.join(fixtures, f));
    // Either its error is shown, or it was a valid file and is loaded.
    await p.waitForFunction((name) => document.getElementById('upload-error').textContent.length > 0
      || document.getElementById('scene-info').textContent.includes(name), f);
    const msg = await p.locator('#upload-error').textContent();
    if (msg.length > 0) {
      rejected += 1;
      assert.match(msg, new RegExp(f.replace('.', '\\.')), `${f}: the error names the file: ${msg}`);
    }
  }
  assert.ok(rejected >= 15, `${rejected} of 20 rejected`);
  // Still working: back to the scene, a new estimate with a finite RMSE.
  const n = Number(await p.evaluate(() => document.body.dataset.estimates));
  if (await p.locator('#back').isVisible()) await p.click('#back');
  else await p.click('#clear');
  await p.fill('#samples', '50');
  await p.click('#sample');
  await estimated(p, n + 1);
  assert.ok((await pageRmse(p)) > 0);
  assert.deepEqual(errors, []);
  await p.close();
});

test('10 000 uploaded measurements: no main-thread task over 50 ms (Long Tasks API)', async () => {
  const errors = [];
  const p = await page(cpu, errors);
  await p.goto(`${server.url}?preset=D1&seed=2&samples=100&method=idw`);
  await estimated(p, 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rme-e2e-long-'));
  const file = path.join(dir, 'drive-10k.csv');
  let text = 'x_m,y_m,power_dbm\n';
  for (let i = 0; i < 10000; i++) text += `${((i * 37) % 997) * 0.25},${((i * 53) % 991) * 0.25},${(-60 - ((i * 7) % 30)).toFixed(1)}\n`;
  fs.writeFileSync(file, text);
  await p.evaluate(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(Math.round(e.duration)); })
      .observe({ type: 'longtask' });
  });
  const n = Number(await p.evaluate(() => document.body.dataset.estimates));
  await p.setInputFiles('#upload', file);
  await estimated(p, n + 1);
  assert.equal(await p.locator('#count').textContent(), '10000');
  // Let the observer deliver what the last frames queued.
  await p.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 100))));
  const long = await p.evaluate(() => window.__longTasks);
  assert.deepEqual(long, [], `main-thread tasks over 50 ms: ${long.join(', ')} ms`);
  assert.deepEqual(errors, []);
  await p.close();
});

test('weights whose hash does not match give a specific message; the classical methods keep working', async () => {
  const errors = [];
  const p = await page(cpu, errors);
  await p.route('**/models/fm-rme-small/model.bpk', async (route) => {
    const res = await route.fetch();
    const body = Buffer.from(await res.body());
    body[body.length >> 1] ^= 0xff;
    await route.fulfill({ response: res, body });
  });
  await p.goto(`${server.url}?preset=D2&seed=1&samples=150&method=fm-rme-small`);
  await estimated(p, 1);
  assert.match(await p.locator('#model-error').textContent(), /fm-rme-small\/model\.bpk.*sha256.*does not match/);
  assert.equal(await p.locator('#method').inputValue(), 'kriging');
  assert.ok((await pageRmse(p)) > 0);
  await screenshot(p, 'demo-bad-weights');
  assert.deepEqual(errors, []);
  await p.close();
});

test('embed.html renders three widgets (one urban) that share one engine', async () => {
  const errors = [];
  const p = await page(cpu, errors);
  const workers = [];
  p.on('worker', (w) => workers.push(w.url()));
  const models = [];
  p.on('request', (r) => {
    if (r.url().endsWith('model.bpk')) models.push(r.url());
  });
  await p.goto(`${server.url}static/embed.html`);
  await p.waitForFunction(() => [...document.querySelectorAll('rme-map')].every((w) => w.dataset.state === 'ready' && w.dataset.rmse));
  const rmse = await p.evaluate(() => [...document.querySelectorAll('rme-map')].map((w) => Number(w.dataset.rmse)));
  assert.equal(rmse.length, 3);
  assert.ok(rmse.every((r) => r > 0 && r < 20), JSON.stringify(rmse));
  assert.equal(workers.length, 1, `workers: ${workers}`);
  // FM-RME and RadioUNet, each once.
  assert.equal(models.length, 2, `weight downloads: ${models}`);
  // A click inside the first widget's shadow root re-estimates it.
  const box = await p.locator('#w1 canvas.map').boundingBox();
  const before = rmse[0];
  await p.mouse.click(box.x + box.width * 0.5, box.y + box.height * 0.5);
  await p.waitForFunction((r) => document.getElementById('w1').dataset.state === 'ready' && Number(document.getElementById('w1').dataset.rmse) !== r, before);
  await screenshot(p, 'embed');
  assert.deepEqual(errors, []);
  await p.close();
});

test('WebGPU (SwiftShader) runs the same model with the same numbers', async () => {
  const gpu = await browser({ webgpu: true });
  try {
    const errors = [];
    const p = await page(gpu, errors);
    await p.goto(`${server.url}?preset=D7&seed=3&samples=200&method=fm-rme-small`);
    await estimated(p, 1);
    const backend = await p.evaluate(() => document.body.dataset.backend);
    const shown = await pageRmse(p);
    const native = nativeRmse('D7', 3, 200, ['fm-rme'])['fm-rme'];
    console.log(`webgpu: backend ${backend}, ${await p.locator('#backend').textContent()}; RMSE ${shown} vs native ${native}; init ${await p.locator('#t-init').textContent()}, first ${await p.locator('#t-first').textContent()}`);
    assert.equal(backend, 'webgpu');
    assert.ok(Math.abs(shown - native) < 0.05, `page ${shown} dB, native ${native} dB`);
    await screenshot(p, 'demo-webgpu');
    assert.deepEqual(errors, []);
    await p.close();
  } finally {
    await gpu.close();
  }
});

test('the urban scene: buildings drawn, a transmitter drag re-simulates, RadioUNet matches the native RMSE', async () => {
  const errors = [];
  const native = nativeRmse('urban', 2, 100, ['radiounet-small', 'kriging']);
  const p = await page(cpu, errors);
  await p.goto(`${server.url}?preset=urban&seed=2&samples=100&method=radiounet-small`);
  await estimated(p, 1);
  const shown = await pageRmse(p);
  console.log(`urban RMSE page vs native (seed 2, 100 samples, RadioUNet): ${shown} vs ${native['radiounet-small']} dB (kriging native ${native.kriging} dB)`);
  assert.ok(Math.abs(shown - native['radiounet-small']) < 0.05, `page ${shown} dB, native ${native['radiounet-small']} dB`);
  assert.equal(await p.locator('#bar-unit').textContent(), 'dB');
  // Buildings are drawn (the dark grey of rme-client.js) on a good share of the map.
  const grey = await p.evaluate(() => {
    const c = document.getElementById('map');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] === 64 && d[i + 1] === 64 && d[i + 2] === 64) n++;
    return n / (d.length / 4);
  });
  assert.ok(grey > 0.08, `buildings cover ${grey} of the canvas`);
  // Drag the transmitter: into a building it is refused with a message and goes back;
  // into a street the map is re-simulated and estimated again.
  const box = await p.locator('#map').boundingBox();
  let moved = false;
  let refused = 0;
  let done = 1;
  for (const target of [[0.5, 0.5], [0.3, 0.7], [0.7, 0.3], [0.2, 0.2], [0.8, 0.8], [0.5, 0.2], [0.2, 0.5], [0.65, 0.65], [0.35, 0.35]]) {
    const [tx] = JSON.parse(await p.locator('#map').getAttribute('data-tx'));
    await p.mouse.move(box.x + box.width * tx[0], box.y + box.height * tx[1]);
    await p.mouse.down();
    await p.mouse.move(box.x + box.width * (tx[0] + target[0]) / 2, box.y + box.height * (tx[1] + target[1]) / 2);
    await p.mouse.move(box.x + box.width * target[0], box.y + box.height * target[1]);
    await p.mouse.up();
    await p.waitForFunction((k) => Number(document.body.dataset.estimates) > k && document.body.dataset.state === 'ready' || document.getElementById('error').textContent !== '', done);
    if (Number(await p.evaluate(() => document.body.dataset.estimates)) > done) {
      await estimated(p, done + 1);
      const [at] = JSON.parse(await p.locator('#map').getAttribute('data-tx'));
      assert.ok(Math.hypot(at[0] - target[0], at[1] - target[1]) < 0.01, `transmitter at ${at}, dragged to ${target}`);
      assert.notEqual(await pageRmse(p), shown);
      moved = true;
      break;
    }
    assert.match(await p.locator('#error').textContent(), /inside a building/);
    const [back] = JSON.parse(await p.locator('#map').getAttribute('data-tx'));
    assert.ok(Math.hypot(back[0] - tx[0], back[1] - tx[1]) < 0.01, 'a refused drag puts the transmitter back');
    refused += 1;
  }
  assert.ok(moved, `every drag target was refused (${refused})`);
  await screenshot(p, 'demo-urban');
  assert.deepEqual(errors, []);
  await p.close();
});

test('RadioDUN in the urban scene: the page RMSE equals the native one, on the CPU and on WebGPU (SwiftShader)', async () => {
  const native = nativeRmse('urban', 2, 100, ['radiodun-small', 'radiounet-small', 'kriging']);
  const gpu = await browser({ webgpu: true });
  try {
  for (const [b, want] of [[cpu, 'cpu (flex, wasm)'], [gpu, 'webgpu']]) {
    const errors = [];
    const p = await page(b, errors);
    await p.goto(`${server.url}?preset=urban&seed=2&samples=100&method=radiodun-small`);
    await estimated(p, 1);
    const backend = await p.evaluate(() => document.body.dataset.backend);
    const shown = await pageRmse(p);
    console.log(`urban RadioDUN on ${backend}: page ${shown} vs native ${native['radiodun-small']} dB (RadioUNet ${native['radiounet-small']}, kriging ${native.kriging})`);
    assert.equal(backend, want);
    assert.ok(Math.abs(shown - native['radiodun-small']) < 0.05, `${backend}: page ${shown} dB, native ${native['radiodun-small']} dB`);
    if (want !== 'webgpu') await screenshot(p, 'demo-urban-radiodun');
    assert.deepEqual(errors, []);
    await p.close();
  }
  } finally {
    await gpu.close();
  }
});

// The golden digest of D1 sample 1, the same constant as core/src/sim/dynamic.rs's test:
// the simulator gives bit-for-bit the same map in WebAssembly as natively.
const D1_SEED1_DIGEST = 'c92a444d7fac10ded46eeb04f04254ac8b5f57878d4ef6d93f0ac9d63dbe28af';
// The same for the urban scene of seed 1 (core/src/scene.rs's test).
const URBAN_SEED1_DIGEST = 'acda03d1ee223b9cb4ac5670987cafe0fbfceef8a48a226b403fb48c50355104';

test('where to measure next: the page marks the native suggestion (free cell of largest σ), and "Measure there" measures it', async () => {
  const errors = [];
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rme-e2e-'));
  rme('demo', '--preset', 'urban', '--seed', '2', '--samples', '40', '--methods', 'kriging', '--out', out);
  const native = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  const next = native.methods.find((m) => m.name === 'kriging').next_measurement;
  const [rows, cols] = native.grid;
  const p = await page(cpu, errors);
  await p.goto(`${server.url}?preset=urban&seed=2&samples=40&method=kriging`);
  await estimated(p, 1);
  const mark = JSON.parse(await p.locator('#map').getAttribute('data-suggest'));
  const expected = [((next.cell % cols) + 0.5) / cols, 1 - (Math.floor(next.cell / cols) + 0.5) / rows];
  assert.ok(Math.hypot(mark[0] - expected[0], mark[1] - expected[1]) < 1e-6, `page marks ${mark}, native cell ${next.cell} is at ${expected}`);
  const text = await p.locator('#next').textContent();
  assert.ok(text.includes(`(${next.x_m.toFixed(1)} m, ${next.y_m.toFixed(1)} m)`) && text.includes(`σ = ${next.std_db.toFixed(2)} dB`), `${text} vs ${JSON.stringify(next)}`);
  // "Measure there" adds exactly that cell; the next suggestion is elsewhere.
  await p.locator('#measure-next').click();
  await estimated(p, 2);
  assert.equal(await p.locator('#count').textContent(), '41');
  const again = JSON.parse(await p.locator('#map').getAttribute('data-suggest'));
  assert.ok(Math.hypot(again[0] - mark[0], again[1] - mark[1]) > 1e-6, 'the measured cell is suggested again');
  // A method without σ: no mark, no button, and the readout says why.
  await p.selectOption('#method', 'idw');
  await estimated(p, 3);
  assert.equal(await p.locator('#map').getAttribute('data-suggest'), null);
  assert.ok(await p.locator('#measure-next').isHidden());
  assert.match(await p.locator('#next').textContent(), /idw gives no σ/);
  await screenshot(p, 'demo-next-measurement');
  assert.deepEqual(errors, []);
  await p.close();
});

test('FM-RME gives σ: the page marks the native suggestion and shows the σ view', async () => {
  const errors = [];
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rme-e2e-'));
  rme('demo', '--preset', 'D7', '--seed', '3', '--samples', '200', '--methods', 'fm-rme',
    '--weights', path.join(ROOT, 'static/models/fm-rme-small'), '--out', out);
  const native = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  const next = native.methods.find((m) => m.name === 'fm-rme').next_measurement;
  assert.ok(next, 'the native FM-RME gives no suggestion: the shipped weights have no σ head');
  const [rows, cols] = native.grid;
  const p = await page(cpu, errors);
  await p.goto(`${server.url}?preset=D7&seed=3&samples=200&method=fm-rme-small`);
  await estimated(p, 1);
  const mark = JSON.parse(await p.locator('#map').getAttribute('data-suggest'));
  const expected = [((next.cell % cols) + 0.5) / cols, 1 - (Math.floor(next.cell / cols) + 0.5) / rows];
  assert.ok(Math.hypot(mark[0] - expected[0], mark[1] - expected[1]) < 1e-6, `page marks ${mark}, native cell ${next.cell} is at ${expected}`);
  const text = await p.locator('#next').textContent();
  assert.ok(text.includes(`σ = ${next.std_db.toFixed(2)} dB`), `${text} vs ${JSON.stringify(next)}`);
  await screenshot(p, 'demo-fm-rme-next-measurement');
  assert.deepEqual(errors, []);
  await p.close();
});

test('the simulators are bit-for-bit the native ones in WebAssembly (golden digests of D1 sample 1 and urban scene 1)', async () => {
  const errors = [];
  const p = await page(cpu, errors);
  await p.goto(`${server.url}static/embed.html`);
  const digest = await p.evaluate(async (url) => {
    const m = await import(url);
    await m.default();
    return [m.simulator_digest('D1', 1n), m.simulator_digest('urban', 1n)];
  }, `${server.url}rme-web.js`);
  assert.deepEqual(digest, [D1_SEED1_DIGEST, URBAN_SEED1_DIGEST]);
  await p.close();
});
