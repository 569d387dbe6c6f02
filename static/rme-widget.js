// <rme-map>: an interactive radio map for any page. One script tag and one element:
//
//   <script type="module" src="https://…/static/rme-widget.js"></script>
//   <rme-map preset="D7" model="fm-rme-small" samples="200" seed="3"></rme-map>
//
// Attributes: preset (D1–D7, or urban: a city with buildings, one transmitter), seed, samples, model (a shipped model or kriging/idw/ldpl),
// slot, band, size (pixels). Every widget on a page shares one engine (one Web Worker, one
// weight download per model). Click the map to add or remove a measurement.

import { engine, paint, paintBar, finiteRange } from './rme-client.js';

let counter = 0;

const STYLE = `
:host { display: inline-block; font: 13px/1.4 system-ui, sans-serif; color: #1b1b1b; }
.frame { display: inline-flex; flex-direction: column; gap: 4px; padding: 8px; border: 1px solid #ddd; border-radius: 6px; background: #fff; }
.row { display: flex; gap: 6px; align-items: stretch; }
canvas.map { image-rendering: pixelated; cursor: crosshair; touch-action: none; }
canvas.bar { width: 10px; image-rendering: pixelated; }
.scale { display: flex; flex-direction: column; justify-content: space-between; font-size: 11px; color: #555; }
.info { color: #333; }
.error { color: #a40000; }
`;

class RmeMap extends HTMLElement {
  static get observedAttributes() {
    return ['preset', 'seed', 'samples', 'model', 'slot', 'band'];
  }

  constructor() {
    super();
    this.key = `widget-${++counter}`;
    this.root = this.attachShadow({ mode: 'open' });
    const size = Number(this.getAttribute('size') ?? 320);
    this.size = size;
    this.root.innerHTML = `<style>${STYLE}</style>
      <div class="frame" part="frame">
        <div class="row">
          <canvas class="map" width="${size}" height="${size}" style="width:${size}px;height:${size}px"></canvas>
          <canvas class="bar" style="height:${size}px"></canvas>
          <div class="scale"><span class="hi"></span><span class="lo"></span></div>
        </div>
        <div class="info" role="status">Loading…</div>
        <div class="error" role="alert"></div>
      </div>`;
    this.canvas = this.root.querySelector('canvas.map');
    this.offscreen = document.createElement('canvas');
    this.busy = false;
    this.dirty = false;
    this.canvas.addEventListener('pointerdown', (ev) => this.click(ev));
  }

  connectedCallback() {
    if (!this.started) {
      this.started = true;
      this.start();
    }
  }

  attributeChangedCallback() {
    if (this.started && this.meta) this.start();
  }

  get model() {
    return this.getAttribute('model') ?? 'fm-rme-small';
  }

  async start() {
    this.client = engine();
    const info = this.root.querySelector('.info');
    try {
      this.info = await this.client.ready;
      paintBar(this.root.querySelector('canvas.bar'), this.info.colormap);
      const preset = this.getAttribute('preset') ?? 'D7';
      const seed = Math.max(0, Math.floor(Number(this.getAttribute('seed') ?? 1)));
      const samples = Math.max(1, Math.floor(Number(this.getAttribute('samples') ?? 200)));
      this.meta = await this.client.call('sceneNew', { key: this.key, preset, seed });
      const slot = Number(this.getAttribute('slot') ?? 0);
      const band = Number(this.getAttribute('band') ?? 0);
      if (slot || band) this.meta = await this.client.call('sceneSlice', { key: this.key, slot, band });
      this.meta = await this.client.call('sceneSample', { key: this.key, count: samples, seed });
      await this.refresh();
    } catch (e) {
      info.textContent = '';
      this.fail(e);
    }
  }

  fail(e) {
    this.root.querySelector('.error').textContent = e.message;
    this.dataset.state = 'error';
  }

  async click(ev) {
    if (!this.meta) return;
    const rect = this.canvas.getBoundingClientRect();
    const fx = (ev.clientX - rect.left) / rect.width;
    const fy = (ev.clientY - rect.top) / rect.height;
    const w = this.meta.cols * this.meta.cellSize;
    const h = this.meta.rows * this.meta.cellSize;
    try {
      this.meta = await this.client.call('sceneToggle', { key: this.key, x: fx * w, y: (1 - fy) * h });
      this.refresh();
    } catch (e) {
      this.fail(e);
    }
  }

  async refresh() {
    if (this.busy) {
      this.dirty = true;
      return;
    }
    this.busy = true;
    this.dataset.state = 'busy';
    try {
      do {
        this.dirty = false;
        const r = await this.client.call('sceneEstimate', { key: this.key, method: this.model });
        this.meta = r;
        this.draw(r);
      } while (this.dirty);
      this.root.querySelector('.error').textContent = '';
      this.dataset.state = 'ready';
    } catch (e) {
      this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  draw(r) {
    const values = r.mean ?? r.truth;
    const [lo, hi] = finiteRange(r.truth, r.mean);
    paint(this.offscreen, values, r.rows, r.cols, lo, hi, this.info.colormap, r.buildings);
    const ctx = this.canvas.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.offscreen, 0, 0, this.size, this.size);
    const px = this.size / r.cols;
    ctx.fillStyle = '#000';
    ctx.strokeStyle = '#fff';
    for (const c of r.cells) {
      const x = ((c % r.cols) + 0.5) * px;
      const y = this.size - (Math.floor(c / r.cols) + 0.5) * px;
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
      ctx.strokeRect(x - 2, y - 2, 4, 4);
    }
    this.root.querySelector('.hi').textContent = `${hi.toFixed(0)} ${r.unit ?? 'dBm'}`;
    this.root.querySelector('.lo').textContent = `${lo.toFixed(0)} ${r.unit ?? 'dBm'}`;
    const rmse = r.rmse == null ? 'add measurements' : `RMSE ${r.rmse.toFixed(2)} dB`;
    this.root.querySelector('.info').textContent =
      `${r.preset} seed ${r.seed} · ${r.cells.length} measurements · ${this.model} · ${rmse} · ${r.ms == null ? '' : Math.round(r.ms) + ' ms · '}${this.info.backend}`;
    this.dataset.rmse = r.rmse == null ? '' : String(r.rmse);
  }
}

if (!customElements.get('rme-map')) customElements.define('rme-map', RmeMap);
