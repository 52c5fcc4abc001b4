// WebSocket client for /api/v1/stream: subscribe → snapshot → incident / responders / assignment deltas
// (one seq order per connection), heartbeat watchdog, resync, reconnect with exponential backoff + full
// jitter (1 s → 30 s).
import {
  BACKOFF_MIN_MS, BACKOFF_MAX_MS, HEARTBEAT_TIMEOUT_MS, OFFLINE_AFTER_MS,
} from './config.js';

export function streamUrl(loc = window.location) {
  const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${loc.host}/api/v1/stream`;
}

/**
 * handlers: onSnapshot(seq, incidentsFC, msg), onIncident(seq, feature), onResponders(seq, features),
 *           onAssignment(seq, assignment), onCluster(seq, feature), onHeat(msg), onReset(reason), onMessage(),
 *           onState(state, info),
 *           onError(msg), onRefused(layers, msg)
 * heat: with layers including "heat", the subscribe carries `heat: {res, surface, category}` (docs/STREAM.md).
 * layers: what to subscribe to (default ["incidents"]). If the server refuses a layer before the first
 * snapshot (an older server without "responders"), the client falls back to ["incidents"] and says so
 * through onError, so the incident picture keeps working.
 */
export class IncidentStream {
  constructor({ url, bbox, handlers, layers = ['incidents'], heat = null }) {
    this.url = url;
    this.bbox = bbox;
    this.h = handlers;
    this.layers = layers;
    this.heat = heat;           // {res, surface, category} sent with the "heat" layer
    this.refusedLayers = false; // the server refused `layers` before the first snapshot: use fallbackLayers()
    this.lastHeatSeq = null;
    this._lastSubscribeAt = 0;
    this._resubTimer = null;
    this.ws = null;
    this.attempt = 0;
    this.state = 'reconnecting';
    this.retryAt = 0;
    this.downSince = Date.now();
    this.awaitingSnapshot = true;
    this.lastSeq = null;
    this.lastMessageAt = 0;
    this._retryTimer = null;
    this._watchdog = setInterval(() => this._tick(), 1000);
  }

  start() { this._connect(); }

  setBbox(bbox) { this.bbox = bbox; }

  _setState(state) {
    if (this.state !== state) { this.state = state; }
    this.h.onState?.(state, { retryAt: this.retryAt, downSince: this.downSince, attempt: this.attempt });
  }

  _connect() {
    clearTimeout(this._retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this._scheduleReconnect(`无法创建连接: ${e.message}`);
      return;
    }
    this.ws = ws;
    this.awaitingSnapshot = true;
    this.lastMessageAt = Date.now();
    ws.onopen = () => {
      if (ws !== this.ws) return; // stale socket (traccar-web#896)
      this.lastMessageAt = Date.now();
      this._subscribe(ws);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = Date.now();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this._handle(msg);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this._scheduleReconnect('连接已断开');
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /** What we fall back to when the server refuses `layers`: without "heat" first, then incidents only. */
  fallbackLayers() {
    if (this.layers.includes('heat') || this.layers.includes('clusters')) {
      const rest = this.layers.filter((l) => l !== 'heat' && l !== 'clusters');
      return rest.length ? rest : ['incidents'];
    }
    return ['incidents'];
  }

  activeLayers() { return this.refusedLayers ? this.fallbackLayers() : this.layers; }

  _subscribe(ws = this.ws) {
    if (!ws || ws.readyState !== 1) return;
    const layers = this.activeLayers();
    const msg = { type: 'subscribe', bbox: this.bbox, layers };
    if (layers.includes('heat') && this.heat) msg.heat = this.heat;
    this._lastSubscribeAt = Date.now();
    this.awaitingSnapshot = true;
    this.lastHeatSeq = null;
    ws.send(JSON.stringify(msg));
  }

  /** Change layers (and the heat options) on the open connection; ≤ 1 subscribe per second (STREAM.md). */
  setLayers(layers, heat = this.heat) {
    this.layers = layers;
    this.heat = heat;
    this.refusedLayers = false;
    clearTimeout(this._resubTimer);
    const wait = Math.max(0, 1100 - (Date.now() - this._lastSubscribeAt));
    this._resubTimer = setTimeout(() => this._subscribe(), wait);
  }

  _fresh(msg) {
    if (this.awaitingSnapshot) return false; // state is rebuilt from the next snapshot
    const seq = Number(msg.seq);
    if (!Number.isFinite(seq) || (this.lastSeq !== null && seq <= this.lastSeq)) return false; // out of order / duplicate
    this.lastSeq = seq;
    return true;
  }

  _handle(msg) {
    this.h.onMessage?.(msg);
    switch (msg.type) {
      case 'snapshot': {
        const seq = Number(msg.seq);
        this.lastSeq = Number.isFinite(seq) ? seq : 0;
        this.awaitingSnapshot = false;
        this._subRetries = 0;
        if (this.state !== 'open') {
          this.attempt = 0;
          this.downSince = 0;
        }
        this._setState('open');
        this.h.onSnapshot?.(this.lastSeq, msg.incidents || { type: 'FeatureCollection', features: [] }, msg);
        break;
      }
      case 'heat': {
        // (layer "heat") changed cells only, ≤ 1/s. Applied after the snapshot and never older than the last one
        // applied; the shared incident seq is not advanced (whether heat seqs are a watermark or events is not ours to assume).
        if (this.awaitingSnapshot) break;
        const seq = Number(msg.seq);
        if (Number.isFinite(seq) && this.lastHeatSeq !== null && seq < this.lastHeatSeq) break;
        if (Number.isFinite(seq)) this.lastHeatSeq = seq;
        this.h.onHeat?.(msg);
        break;
      }
      case 'incident':
        if (this._fresh(msg) && msg.feature) this.h.onIncident?.(this.lastSeq, msg.feature);
        break;
      case 'responders':
        if (this._fresh(msg) && Array.isArray(msg.features)) this.h.onResponders?.(this.lastSeq, msg.features);
        break;
      case 'assignment':
        if (this._fresh(msg) && msg.assignment) this.h.onAssignment?.(this.lastSeq, msg.assignment);
        break;
      case 'cluster':
        // (layer "clusters") the whole repeat cluster, in place; shares the incidents' seq
        if (this._fresh(msg) && msg.feature) this.h.onCluster?.(this.lastSeq, msg.feature);
        break;
      case 'heartbeat':
        break;
      case 'resync':
        // We fell behind: drop state; the server sends a fresh snapshot right after.
        this.awaitingSnapshot = true;
        this.lastSeq = null;
        this.h.onReset?.(msg.reason || 'resync');
        break;
      case 'error':
        if (this.awaitingSnapshot && !this.refusedLayers && this.layers.length > 1
          && /layer|heat|cluster/i.test(`${msg.field ?? ''} ${msg.reason ?? ''}`)) {
          this.refusedLayers = true; // older server: keep the incident picture alive
          this.h.onError?.(`订阅 ${this.layers.join(',')} 被拒绝 (${msg.reason ?? ''})，仅订阅 ${this.fallbackLayers().join(',')}`);
          this.h.onRefused?.(this.layers, msg);
          setTimeout(() => this._subscribe(), 1100); // ≤ 1 subscribe per second (STREAM.md)
          break;
        }
        this.h.onError?.(`${msg.field ?? ''} ${msg.reason ?? ''}`.trim());
        if (this.awaitingSnapshot && this._lastSubscribeAt && (this._subRetries = (this._subRetries || 0) + 1) <= 3) {
          // a re-subscribe was refused (e.g. too fast): the old subscription stays in force, but we already dropped
          // state-in-flight, so ask again for a snapshot
          clearTimeout(this._resubTimer);
          this._resubTimer = setTimeout(() => this._subscribe(), 1100);
        }
        break;
      default:
        break;
    }
  }

  _scheduleReconnect(reason) {
    if (!this.downSince) this.downSince = Date.now();
    this.attempt += 1;
    // exponential backoff with full jitter: U(min, min(cap, base·2^(n-1)))
    const ceil = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.attempt - 1));
    const delay = BACKOFF_MIN_MS + Math.random() * Math.max(0, ceil - BACKOFF_MIN_MS);
    this.retryAt = Date.now() + delay;
    this.awaitingSnapshot = true;
    this._retryTimer = setTimeout(() => this._connect(), delay);
    this._setState(this._downState());
    this.h.onDisconnect?.(reason);
  }

  _downState() {
    return Date.now() - this.downSince >= OFFLINE_AFTER_MS ? 'offline' : 'reconnecting';
  }

  _tick() {
    if (this.ws && Date.now() - this.lastMessageAt > HEARTBEAT_TIMEOUT_MS) {
      // Heartbeats stopped: the socket is dead even if the browser has not noticed.
      const ws = this.ws;
      this.ws = null;
      try { ws.close(); } catch { /* ignore */ }
      this._scheduleReconnect('心跳超时');
      return;
    }
    if (this.state !== 'open') this._setState(this._downState());
  }
}
