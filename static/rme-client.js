// The page side of the rme engine: one Web Worker per page, shared by the demo and by every
// <rme-map> widget on it (one engine, one weight download per model).

let shared = null;

class Client {
  constructor(prefer) {
    this.worker = new Worker(new URL('./rme-worker.js', import.meta.url), { type: 'module' });
    this.next = 1;
    this.pending = new Map();
    this.worker.onmessage = (ev) => {
      const { id, ok, result, error } = ev.data;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (ok) p.resolve(result);
      else p.reject(new Error(error));
    };
    this.worker.onerror = (ev) => {
      const err = new Error(`the rme worker failed: ${ev.message || 'script error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.ready = this.call('init', { prefer });
  }

  call(op, args = {}) {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, ...args });
    });
  }
}

/// The page's engine. `prefer` ('auto' or 'cpu') is honoured by the first caller only;
/// `?backend=cpu` in the page's address forces the CPU backend.
export function engine(prefer) {
  if (!shared) {
    const fromUrl = new URLSearchParams(location.search).get('backend');
    shared = new Client(fromUrl === 'cpu' ? 'cpu' : prefer ?? 'auto');
  }
  return shared;
}

/// Paints a row-major map (row 0 south) on a canvas with the colormap (256 RGBA entries);
/// non-finite cells stay transparent; cells where `buildings` (optional, row-major, 1 =
/// building) is set are dark grey.
export function paint(canvas, values, rows, cols, lo, hi, colormap, buildings = null) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(cols, rows);
  const span = hi > lo ? hi - lo : 1;
  for (let r = 0; r < rows; r++) {
    const src = (rows - 1 - r) * cols; // canvas row 0 is north
    for (let c = 0; c < cols; c++) {
      const v = values[src + c];
      const o = (r * cols + c) * 4;
      if (buildings && buildings.length && buildings[src + c]) {
        img.data.set(BUILDING_RGBA, o);
        continue;
      }
      if (!Number.isFinite(v)) continue;
      const k = Math.max(0, Math.min(255, Math.round(((v - lo) / span) * 255))) * 4;
      img.data[o] = colormap[k];
      img.data[o + 1] = colormap[k + 1];
      img.data[o + 2] = colormap[k + 2];
      img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

/// Colour of buildings on a map (the same dark grey as the CLI's PNGs).
const BUILDING_RGBA = [64, 64, 64, 255];

/// Paints the colour bar (low at the bottom) on a canvas.
export function paintBar(canvas, colormap) {
  canvas.width = 1;
  canvas.height = 256;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(1, 256);
  for (let i = 0; i < 256; i++) {
    const k = (255 - i) * 4;
    img.data.set([colormap[k], colormap[k + 1], colormap[k + 2], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

export function finiteRange(...arrays) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    if (!a) continue;
    for (const v of a) {
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  if (lo > hi) return [0, 1];
  return [lo, hi > lo ? hi : lo + 1];
}

export function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
