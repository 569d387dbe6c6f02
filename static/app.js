// The demo page: a simulated scene, measurements the user places, and an estimate by the
// chosen method, all computed by the rme engine in a Web Worker (rme-client.js).

import { engine, paint, paintBar, finiteRange, median } from './rme-client.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const KEY = 'demo';
const MAP_PX = 512;

const state = {
  info: null,
  mode: 'scene', // or 'dataset'
  meta: null,
  result: null,
  dataset: null,
  datasetResult: null,
  view: 'estimate',
  busy: false,
  dirty: false,
  samplePresses: 0,
  times: [],
  firstMs: null,
  drag: null,
  estimates: 0,
};

const client = engine();

function setStatus(text, kind = 'ready') {
  $('status').textContent = text;
  document.body.dataset.state = kind;
}

function showError(where, message) {
  $(where).textContent = message ?? '';
}

function fmtMs(ms) {
  return ms == null ? '—' : ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function method() {
  return $('method').value;
}

// ---------- drawing ----------

// The values outside buildings (the colour range ignores what is drawn grey).
function outdoors(values) {
  const b = state.meta?.buildings;
  if (!values || !b || !b.length) return values;
  return values.filter((_, i) => !b[i]);
}

const offscreen = document.createElement('canvas');

function currentLayer() {
  const r = state.mode === 'dataset' ? state.datasetResult : state.result;
  if (!r) return null;
  const rows = state.mode === 'dataset' ? state.dataset.rows : state.meta.rows;
  const cols = state.mode === 'dataset' ? state.dataset.cols : state.meta.cols;
  const view = state.mode === 'dataset' && (state.view === 'truth' || state.view === 'error') ? 'estimate' : state.view;
  let values = null;
  let unit = state.mode === 'scene' ? state.meta.unit ?? 'dBm' : 'dBm';
  let range = null;
  if (view === 'truth') values = r.truth;
  if (view === 'estimate') values = r.mean ?? (state.mode === 'scene' ? r.truth : null);
  if (view === 'error' && r.mean) {
    values = r.mean.map((v, i) => Math.abs(v - r.truth[i]));
    unit = 'dB';
    range = [0, 20];
  }
  if (view === 'std') {
    values = r.std;
    unit = 'dB';
  }
  if (!values) return { rows, cols, values: null, unit, range: [0, 1], view };
  if (!range) range = (view === 'truth' || view === 'estimate') && state.mode === 'scene' ? finiteRange(outdoors(r.truth), outdoors(r.mean)) : finiteRange(values);
  return { rows, cols, values, unit, range, view };
}

function draw() {
  const canvas = $('map');
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, MAP_PX, MAP_PX);
  const layer = currentLayer();
  if (!layer) return;
  const note = $('scene-info');
  if (layer.values) {
    const buildings = state.mode === 'scene' ? state.meta.buildings : null;
    paint(offscreen, layer.values, layer.rows, layer.cols, layer.range[0], layer.range[1], state.info.colormap, buildings);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(offscreen, 0, 0, MAP_PX, MAP_PX);
  } else {
    ctx.fillStyle = '#ddd';
    ctx.fillRect(0, 0, MAP_PX, MAP_PX);
  }
  $('bar-hi').textContent = layer.range[1].toFixed(1);
  $('bar-lo').textContent = layer.range[0].toFixed(1);
  $('bar-unit').textContent = layer.unit;
  if (state.mode === 'scene') {
    const m = state.meta;
    const px = MAP_PX / m.cols;
    ctx.strokeStyle = '#fff';
    ctx.fillStyle = '#000';
    for (const c of m.cells) {
      const row = Math.floor(c / m.cols);
      const col = c % m.cols;
      const x = (col + 0.5) * px;
      const y = MAP_PX - (row + 0.5) * px;
      ctx.fillRect(x - 2, y - 2, 4, 4);
      ctx.strokeRect(x - 2.5, y - 2.5, 5, 5);
    }
    const marks = [];
    for (let i = 0; i < m.tx.length / 3; i++) {
      const [x, y, on] = [m.tx[3 * i], m.tx[3 * i + 1], m.tx[3 * i + 2]];
      const [cx, cy] = toCanvas(x, y);
      marks.push([cx / MAP_PX, cy / MAP_PX]);
      ctx.beginPath();
      ctx.moveTo(cx, cy - 8);
      ctx.lineTo(cx - 7, cy + 6);
      ctx.lineTo(cx + 7, cy + 6);
      ctx.closePath();
      ctx.fillStyle = on ? '#ff3b30' : '#999';
      ctx.fill();
      ctx.strokeStyle = '#fff';
      ctx.stroke();
    }
    // Where the transmitters are drawn (fractions of the canvas), for tools and tests.
    canvas.dataset.tx = JSON.stringify(marks);
    drawSuggestion(ctx, m.rows, m.cols);
    note.textContent = layer.view === 'std' && !layer.values ? `${method()} gives no σ.` : '';
  } else {
    const d = state.dataset;
    ctx.fillStyle = '#000';
    ctx.strokeStyle = '#fff';
    for (let i = 0; i < d.points.length; i += 3) {
      const [cx, cy] = toCanvasDataset(d.points[i], d.points[i + 1]);
      ctx.fillRect(cx - 1.5, cy - 1.5, 3, 3);
    }
    drawSuggestion(ctx, d.rows, d.cols);
    note.textContent = `${d.name}: ${d.count} measurements (${d.quantity}), estimated on ${d.rows}×${d.cols} cells of ${d.cellSize.toFixed(2)} m.` +
      (d.notes.length ? ' ' + d.notes.join('; ') + '.' : '') +
      (layer.view === 'std' && !layer.values ? ` ${method()} gives no σ.` : '');
  }
}

// The suggested next measurement of the current estimate (the free cell of largest σ), as a
// ring with a cross; its canvas position (fractions) in data-suggest for tools and tests.
function drawSuggestion(ctx, rows, cols) {
  const canvas = $('map');
  const r = state.mode === 'dataset' ? state.datasetResult : state.result;
  const cell = r?.suggest;
  if (cell == null) {
    delete canvas.dataset.suggest;
    return;
  }
  const x = ((cell % cols) + 0.5) * (MAP_PX / cols);
  const y = MAP_PX - (Math.floor(cell / cols) + 0.5) * (MAP_PX / rows);
  ctx.lineWidth = 3;
  ctx.strokeStyle = '#fff';
  ctx.beginPath();
  ctx.arc(x, y, 9, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = '#e0157a';
  ctx.beginPath();
  ctx.arc(x, y, 9, 0, 2 * Math.PI);
  ctx.moveTo(x - 13, y);
  ctx.lineTo(x + 13, y);
  ctx.moveTo(x, y - 13);
  ctx.lineTo(x, y + 13);
  ctx.stroke();
  ctx.lineWidth = 1;
  canvas.dataset.suggest = JSON.stringify([x / MAP_PX, y / MAP_PX]);
}

// The world position (cell centre, m) of the suggested cell and its σ, or null.
function suggestion() {
  const r = state.mode === 'dataset' ? state.datasetResult : state.result;
  if (!r || r.suggest == null || !r.std) return null;
  const g = state.mode === 'dataset' ? state.dataset : state.meta;
  const [ox, oy] = state.mode === 'dataset' ? g.origin : [0, 0];
  const col = r.suggest % g.cols;
  const row = Math.floor(r.suggest / g.cols);
  return { x: ox + (col + 0.5) * g.cellSize, y: oy + (row + 0.5) * g.cellSize, std: r.std[r.suggest] };
}

function extent() {
  const m = state.meta;
  return [m.cols * m.cellSize, m.rows * m.cellSize];
}

function toCanvas(x, y) {
  const [w, h] = extent();
  return [(x / w) * MAP_PX, MAP_PX - (y / h) * MAP_PX];
}

function toWorld(cx, cy) {
  const [w, h] = extent();
  return [(cx / MAP_PX) * w, ((MAP_PX - cy) / MAP_PX) * h];
}

function toCanvasDataset(x, y) {
  const d = state.dataset;
  const w = d.cols * d.cellSize;
  const h = d.rows * d.cellSize;
  return [((x - d.origin[0]) / w) * MAP_PX, MAP_PX - ((y - d.origin[1]) / h) * MAP_PX];
}

function readouts() {
  const r = state.mode === 'dataset' ? state.datasetResult : state.result;
  const rmse = $('rmse');
  if (state.mode === 'dataset') {
    rmse.textContent = 'n/a (no ground truth for uploaded data)';
    delete rmse.dataset.value;
    $('count').textContent = String(state.dataset.count);
  } else {
    rmse.textContent = r && r.rmse != null ? `${r.rmse.toFixed(3)} dB` : '—';
    if (r && r.rmse != null) rmse.dataset.value = String(r.rmse);
    else delete rmse.dataset.value;
    $('count').textContent = String(state.meta.cells.length);
  }
  const next = suggestion();
  const withoutStd = r && r.mean && !r.std;
  $('next').textContent = next ? `(${next.x.toFixed(1)} m, ${next.y.toFixed(1)} m), σ = ${next.std.toFixed(2)} dB` : withoutStd ? `— (${method()} gives no σ)` : '—';
  $('measure-next').hidden = !next || state.mode !== 'scene';
  $('t-first').textContent = fmtMs(state.firstMs);
  $('t-median').textContent = fmtMs(median(state.times.slice(-10)));
  document.body.dataset.estimates = String(state.estimates);
}

// ---------- estimation ----------

async function refresh() {
  if (state.busy) {
    state.dirty = true;
    return;
  }
  state.busy = true;
  setStatus(`Estimating with ${method()}…`, 'busy');
  try {
    do {
      state.dirty = false;
      if (state.mode === 'scene') {
        const r = await client.call('sceneEstimate', { key: KEY, method: method() });
        state.meta = r;
        state.result = r;
        if (r.ms != null) noteTime(r.ms);
      } else {
        const r = await client.call('datasetEstimate', { key: KEY, method: method() });
        state.datasetResult = r;
        noteTime(r.ms);
      }
      showError('error', '');
      draw();
      readouts();
    } while (state.dirty);
    setStatus(statusLine(), 'ready');
  } catch (e) {
    showError('error', e.message);
    setStatus(statusLine(), 'ready');
    draw();
    readouts();
  } finally {
    state.busy = false;
  }
}

function noteTime(ms) {
  state.estimates += 1;
  if (state.firstMs == null) state.firstMs = ms;
  state.times.push(ms);
  if (state.times.length > 50) state.times.shift();
}

function statusLine() {
  const i = state.info;
  const m = state.meta;
  const where = state.mode === 'dataset' ? `your data (${state.dataset.name})` : `${m.preset}, seed ${m.seed}, slot ${m.slot} (t = ${m.t} s), band ${m.band} (${(m.freq / 1e9).toFixed(3)} GHz)`;
  return `Ready — ${where}; ${method()} on ${i.backend}.`;
}

async function act(op, args) {
  try {
    state.meta = await client.call(op, { key: KEY, ...args });
    showError('error', '');
  } catch (e) {
    showError('error', e.message);
    return false;
  }
  syncSliders();
  draw();
  readouts();
  refresh();
  return true;
}

function syncSliders() {
  const m = state.meta;
  $('slot').max = String(m.slots - 1);
  $('band').max = String(m.bands - 1);
  $('slot').value = String(m.slot);
  $('band').value = String(m.band);
  $('slot-out').textContent = `${m.slot} (t = ${m.t} s)`;
  $('band-out').textContent = `${m.band} (${(m.freq / 1e9).toFixed(3)} GHz)`;
}

async function newScene(sampleCount) {
  const preset = $('preset').value;
  const seed = Math.max(0, Math.floor(Number($('seed').value) || 0));
  state.samplePresses = 0;
  leaveDataset();
  if (!(await act('sceneNew', { preset, seed }))) return;
  if (sampleCount) await act('sceneSample', { count: sampleCount, seed });
}

function leaveDataset() {
  state.mode = 'scene';
  $('back').hidden = true;
}

// ---------- downloads ----------

function download(name, data, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function downloadEstimate(kind) {
  const r = state.mode === 'dataset' ? state.datasetResult : state.result;
  if (!r || !r.mean) {
    showError('error', 'nothing to download yet: add measurements first');
    return;
  }
  try {
    if (kind === 'csv') {
      const op = state.mode === 'dataset' ? 'datasetCsv' : 'sceneCsv';
      const text = await client.call(op, { key: KEY, which: 'estimate', mean: r.mean, std: r.std });
      download(`estimate_${method()}.csv`, text, 'text/csv');
    } else {
      const layer = currentLayer();
      const bytes = await client.call('png', { values: layer.values ?? r.mean, rows: layer.rows, cols: layer.cols, lo: layer.range[0], hi: layer.range[1], unit: layer.unit });
      download(`${layer.view}_${method()}.png`, bytes, 'image/png');
    }
  } catch (e) {
    showError('error', e.message);
  }
}

// ---------- events ----------

function canvasPoint(ev) {
  const rect = $('map').getBoundingClientRect();
  return [((ev.clientX - rect.left) / rect.width) * MAP_PX, ((ev.clientY - rect.top) / rect.height) * MAP_PX];
}

function nearTransmitter(cx, cy) {
  const m = state.meta;
  for (let i = 0; i < m.tx.length / 3; i++) {
    const [tx, ty] = toCanvas(m.tx[3 * i], m.tx[3 * i + 1]);
    if (Math.hypot(tx - cx, ty - cy) < 10) return i;
  }
  return -1;
}

function wire() {
  const map = $('map');
  map.addEventListener('pointerdown', (ev) => {
    if (state.mode !== 'scene' || !state.meta) return;
    const [cx, cy] = canvasPoint(ev);
    const i = nearTransmitter(cx, cy);
    if (i >= 0) {
      state.drag = { index: i, moved: false, from: [state.meta.tx[3 * i], state.meta.tx[3 * i + 1]] };
      map.setPointerCapture(ev.pointerId);
    } else {
      const [x, y] = toWorld(cx, cy);
      act('sceneToggle', { x, y });
    }
  });
  map.addEventListener('pointermove', (ev) => {
    if (!state.drag) return;
    const [cx, cy] = canvasPoint(ev);
    const [x, y] = toWorld(Math.min(MAP_PX, Math.max(0, cx)), Math.min(MAP_PX, Math.max(0, cy)));
    state.meta.tx[3 * state.drag.index] = x;
    state.meta.tx[3 * state.drag.index + 1] = y;
    state.drag.moved = true;
    draw();
  });
  map.addEventListener('pointerup', async () => {
    const d = state.drag;
    state.drag = null;
    if (!d || !d.moved) return;
    const ok = await act('sceneMoveTx', { index: d.index, x: state.meta.tx[3 * d.index], y: state.meta.tx[3 * d.index + 1] });
    if (!ok) {
      // Refused (e.g. inside a building): the transmitter goes back to where it is.
      [state.meta.tx[3 * d.index], state.meta.tx[3 * d.index + 1]] = d.from;
      draw();
    }
  });
  $('new-scene').addEventListener('click', () => newScene(Number($('samples').value)));
  $('preset').addEventListener('change', () => newScene(Number($('samples').value)));
  const slice = () => act('sceneSlice', { slot: Number($('slot').value), band: Number($('band').value) });
  $('slot').addEventListener('input', slice);
  $('band').addEventListener('input', slice);
  $('sample').addEventListener('click', () => {
    const seed = Math.max(0, Math.floor(Number($('seed').value) || 0)) + state.samplePresses;
    state.samplePresses += 1;
    leaveDataset();
    act('sceneSample', { count: Math.floor(Number($('samples').value)), seed });
  });
  $('clear').addEventListener('click', () => act('sceneClear', {}));
  $('measure-next').addEventListener('click', () => {
    const next = suggestion();
    if (next && state.mode === 'scene') act('sceneToggle', { x: next.x, y: next.y });
  });
  $('method').addEventListener('change', () => refresh());
  for (const r of document.querySelectorAll('input[name=view]')) {
    r.addEventListener('change', () => {
      state.view = r.value;
      draw();
    });
  }
  $('upload').addEventListener('change', async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    showError('upload-error', '');
    try {
      const text = await file.text();
      state.dataset = await client.call('datasetLoad', { key: KEY, text, name: file.name });
      state.datasetResult = null;
      state.mode = 'dataset';
      $('back').hidden = false;
      draw();
      readouts();
      refresh();
    } catch (e) {
      showError('upload-error', e.message);
    } finally {
      ev.target.value = '';
    }
  });
  $('back').addEventListener('click', () => {
    leaveDataset();
    draw();
    readouts();
    refresh();
  });
  $('dl-csv').addEventListener('click', () => downloadEstimate('csv'));
  $('dl-png').addEventListener('click', () => downloadEstimate('png'));
  $('dl-meas').addEventListener('click', async () => {
    try {
      download('measurements.csv', await client.call('sceneCsv', { key: KEY, which: 'measurements' }), 'text/csv');
    } catch (e) {
      showError('error', e.message);
    }
  });
}

// ---------- start ----------

async function main() {
  const t0 = performance.now();
  try {
    state.info = await client.ready;
  } catch (e) {
    setStatus(`The engine did not start: ${e.message}`, 'error');
    return;
  }
  const i = state.info;
  $('backend').textContent = i.backend + (i.adapter ? ` (${i.adapter.architecture || i.adapter.vendor || 'adapter'}${i.adapter.fallback ? ', software fallback' : ''})` : '') + (i.notes.length ? ` — ${i.notes.join('; ')}` : '');
  document.body.dataset.backend = i.backend;
  for (const p of i.presets) $('preset').append(new Option(p, p));
  $('preset').value = i.presets.includes(params.get('preset')) ? params.get('preset') : 'D7';
  $('seed').value = params.get('seed') ?? '3';
  $('samples').value = params.get('samples') ?? '200';
  if (params.get('method')) $('method').value = params.get('method');
  paintBar($('bar'), i.colormap);
  wire();

  // The default model: its load (fetch, sha256 check, decode, warm-up) is part of init.
  try {
    const m = await client.call('loadModel', { name: 'fm-rme-small' });
    $('method').querySelector('option[value="fm-rme-small"]').textContent = `FM-RME (small, ${m.params.toLocaleString()} parameters)`;
  } catch (e) {
    showError('model-error', `FM-RME is unavailable: ${e.message}`);
    $('method').querySelector('option[value="fm-rme-small"]').disabled = true;
    if (method() === 'fm-rme-small') $('method').value = 'kriging';
  }
  $('t-init').textContent = fmtMs(performance.now() - t0);
  document.body.dataset.initMs = String(performance.now() - t0);

  const preset = $('preset').value;
  const seed = Math.max(0, Math.floor(Number($('seed').value) || 0));
  try {
    state.meta = await client.call('sceneNew', { key: KEY, preset, seed });
    const slot = Number(params.get('slot') ?? 0);
    const band = Number(params.get('band') ?? 0);
    if (slot || band) state.meta = await client.call('sceneSlice', { key: KEY, slot, band });
    state.meta = await client.call('sceneSample', { key: KEY, count: Number($('samples').value), seed });
    state.samplePresses = 1;
  } catch (e) {
    showError('error', e.message);
  }
  if (state.meta) {
    syncSliders();
    await refresh();
  }
}

main();
