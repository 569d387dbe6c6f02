// The rme engine in a Web Worker: the page and the widgets post requests here, so estimation
// never blocks the main thread. One bundle holds both of burn's backends: the engine runs on
// WebGPU when the browser offers a WebGPU adapter, and on the CPU backend (flex, wasm)
// otherwise. Requests are handled one at a time, in order.
//
// Request: {id, op, ...args}. Reply: {id, ok: true, result} or {id, ok: false, error}.

const here = new URL('.', import.meta.url);
const bundle = new URL('../rme-web.js', here).href;

let rme = null;      // the wasm-bindgen module
let engine = null;   // rme.Engine
let info = null;     // what `init` reports
const scenes = new Map();
const datasets = new Map();
const models = new Map(); // name -> load promise

async function init({ prefer = 'auto' } = {}) {
  if (info) return info;
  const t0 = performance.now();
  const notes = [];
  let adapter = null;
  if (prefer !== 'cpu') {
    if (!('gpu' in navigator)) notes.push('this browser has no WebGPU (navigator.gpu is missing)');
    else {
      try {
        adapter = await navigator.gpu.requestAdapter();
      } catch (e) {
        notes.push(`WebGPU adapter request failed: ${e.message}`);
      }
      if (!adapter && notes.length === 0) notes.push('WebGPU offers no adapter here');
    }
  }
  rme = await import(bundle);
  await rme.default();
  if (adapter) {
    try {
      engine = await rme.Engine.webgpu();
    } catch (e) {
      notes.push(`WebGPU start failed: ${e.message ?? e}`);
      engine = null;
    }
  }
  if (!engine) engine = rme.Engine.cpu();
  let adapterInfo = null;
  if (adapter && engine.backend === 'webgpu') {
    const i = adapter.info ?? {};
    adapterInfo = { vendor: i.vendor ?? '', architecture: i.architecture ?? '', fallback: !!adapter.isFallbackAdapter };
  }
  info = {
    backend: engine.backend,
    adapter: adapterInfo,
    notes,
    version: rme.version(),
    presets: rme.presets(),
    classical: rme.classical_methods(),
    colormap: rme.colormap_rgba(256),
    startMs: performance.now() - t0,
  };
  return info;
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function loadModel({ name }) {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return Promise.reject(new Error(`model name '${name}' is not a plain name`));
  if (!models.has(name)) {
    const p = (async () => {
      const t0 = performance.now();
      const dir = new URL(`models/${name}/`, here);
      const manifestRes = await fetch(new URL('manifest.json', dir));
      if (!manifestRes.ok) throw new Error(`${name}/manifest.json: HTTP ${manifestRes.status}`);
      const manifest = await manifestRes.text();
      const bytes = await fetchBytes(new URL('model.bpk', dir));
      const tFetched = performance.now();
      const meta = await engine.load_model(name, manifest, bytes);
      return { ...meta, bytes: bytes.length, fetchMs: tFetched - t0, loadMs: performance.now() - tFetched };
    })();
    // A failed load may be retried (after a fix on the server).
    p.catch(() => models.delete(name));
    models.set(name, p);
  }
  return models.get(name);
}

function scene(id) {
  const s = scenes.get(id);
  if (!s) throw new Error(`no scene '${id}'`);
  return s;
}

function sceneMeta(s) {
  const tx = Array.from(s.transmitters());
  return {
    preset: s.preset, seed: Number(s.seed), rows: s.rows, cols: s.cols, cellSize: s.cell_size_m,
    slots: s.slots, bands: s.bands, slot: s.slot, band: s.band, t: s.t_s, freq: s.freq_hz,
    cells: s.cells(), tx, buildings: s.buildings(), unit: s.unit,
  };
}

async function estimateWith(method, problem) {
  if (!info.classical.includes(method) && !engine.models().includes(method)) {
    await loadModel({ name: method });
  }
  const t0 = performance.now();
  const out = await engine.estimate(method, problem);
  return { mean: out.mean, std: out.std ?? null, ms: performance.now() - t0 };
}

const ops = {
  init,
  loadModel,
  async sceneNew({ key, preset, seed }) {
    const old = scenes.get(key);
    if (old) old.free();
    const s = new rme.Scene(preset, BigInt(seed));
    scenes.set(key, s);
    return sceneMeta(s);
  },
  async sceneSample({ key, count, seed }) {
    const s = scene(key);
    s.sample_random(count, BigInt(seed));
    return sceneMeta(s);
  },
  async sceneToggle({ key, x, y }) {
    const s = scene(key);
    s.toggle_at(x, y);
    return sceneMeta(s);
  },
  async sceneClear({ key }) {
    const s = scene(key);
    s.set_cells(new Uint32Array(0));
    return sceneMeta(s);
  },
  async sceneSlice({ key, slot, band }) {
    const s = scene(key);
    s.set_slice(slot, band);
    return sceneMeta(s);
  },
  async sceneMoveTx({ key, index, x, y }) {
    const s = scene(key);
    s.move_transmitter(index, x, y);
    return sceneMeta(s);
  },
  async sceneEstimate({ key, method }) {
    const s = scene(key);
    const truth = s.truth();
    const meta = sceneMeta(s);
    if (meta.cells.length === 0) return { ...meta, truth, mean: null, std: null, rmse: null, ms: null };
    const e = await estimateWith(method, s.problem());
    // Where to measure next (the free outdoor cell of largest σ), for methods with σ.
    const suggest = e.std ? s.suggest_next(e.std, method) ?? null : null;
    return { ...meta, truth, ...e, rmse: s.rmse(e.mean), suggest };
  },
  async sceneCsv({ key, which, mean, std }) {
    const s = scene(key);
    return which === 'measurements' ? s.measurements_csv() : s.estimate_csv(mean, std ?? undefined);
  },
  async datasetLoad({ key, text, name }) {
    const old = datasets.get(key);
    if (old) old.free();
    datasets.delete(key);
    const d = rme.Dataset.from_csv(text, name);
    datasets.set(key, d);
    return { name: d.name, count: d.len, rows: d.rows, cols: d.cols, cellSize: d.cell_size_m, origin: Array.from(d.origin_m()), quantity: d.quantity, notes: d.notes(), points: d.points() };
  },
  async datasetEstimate({ key, method }) {
    const d = datasets.get(key);
    if (!d) throw new Error('no uploaded data set');
    const e = await estimateWith(method, d.problem());
    return { ...e, suggest: e.std ? d.suggest_next(e.std, method) ?? null : null };
  },
  async datasetCsv({ key, mean, std }) {
    const d = datasets.get(key);
    if (!d) throw new Error('no uploaded data set');
    return d.estimate_csv(mean, std ?? undefined);
  },
  async png({ values, rows, cols, lo, hi, unit }) {
    return rme.png_bytes(values, rows, cols, lo, hi, unit);
  },
};

let queue = Promise.resolve();
self.onmessage = (ev) => {
  const { id, op, ...args } = ev.data;
  queue = queue.then(async () => {
    try {
      const fn = ops[op];
      if (!fn) throw new Error(`unknown request '${op}'`);
      if (op !== 'init' && !engine) await init({});
      const result = await fn(args);
      self.postMessage({ id, ok: true, result });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      self.postMessage({ id, ok: false, error });
    }
  });
};
