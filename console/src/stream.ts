// The live event stream (GET /api/v1/events, a WebSocket authenticated by its first
// message). Reconnects with backoff and resumes from the last event seen; while the
// server offers no stream, falls back to polling the API.

import { getToken } from './api';
import { store } from './store';
import type { StreamEvent } from './types';

export type StreamState = 'connecting' | 'live' | 'polling' | 'offline';

export class EventStream {
  state: StreamState = 'connecting';
  lastSeq: number | null = null;
  private ws: WebSocket | null = null;
  private backoffMs = 500;
  private failures = 0;
  private stopped = false;
  private pollTimer: number | null = null;
  private retryTimer: number | null = null;

  constructor(
    private pollAssignments: () => boolean,
    private onFatal: (code: string) => void,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close();
    this.ws = null;
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.pollTimer = null;
  }

  private setState(s: StreamState): void {
    this.state = s;
    store.notify('stream');
  }

  private connect(): void {
    if (this.stopped) return;
    const token = getToken();
    if (!token) return;
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    let ready = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${proto}://${location.host}/api/v1/events`);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const auth: Record<string, unknown> = { type: 'auth', token };
      if (this.lastSeq !== null) auth.after = this.lastSeq;
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = (m) => {
      let msg: { type: string; head?: number; code?: string; complete?: boolean } & Partial<StreamEvent>;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (msg.type === 'ready') {
        ready = true;
        const resumed = this.lastSeq !== null;
        if (this.lastSeq === null) this.lastSeq = msg.head ?? 0;
        this.failures = 0;
        this.backoffMs = 500;
        this.stopPolling();
        this.setState('live');
        // Without a resume point (or when the server could not replay everything missed),
        // what happened before must be read once.
        if (!resumed || msg.complete === false) void store.refresh({ assignments: true }).catch(() => undefined);
      } else if (msg.type === 'event' && typeof msg.seq === 'number') {
        if (this.lastSeq !== null && msg.seq <= this.lastSeq) return;
        this.lastSeq = msg.seq;
        store.apply(msg as StreamEvent);
      } else if (msg.type === 'error') {
        if (msg.code === 'unauthenticated' || msg.code === 'session_ended') {
          this.stop();
          this.onFatal(msg.code);
        }
      }
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      if (this.stopped) return;
      if (!ready) this.failures++;
      if (this.failures >= 2) this.startPolling();
      else this.setState('connecting');
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const wait = this.backoffMs * (0.75 + Math.random() * 0.5);
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    this.retryTimer = window.setTimeout(() => this.connect(), wait);
  }

  private startPolling(): void {
    if (this.pollTimer !== null) return;
    this.setState('polling');
    const tick = () => void store.refresh({ assignments: this.pollAssignments() }).catch(() => undefined);
    tick();
    this.pollTimer = window.setInterval(tick, 1500);
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
