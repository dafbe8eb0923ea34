/**
 * `/api/rstwatch/stream`: server-sent events for the dashboard (WHATWG HTML, "Server-sent events").
 *
 * Events (each `data:` is one JSON object):
 * - `hello` once on connect: charts (id, netns, context, units, dimensions) and every alert's status;
 * - `sample` each second with a new stored slot: `{t, charts: {<chart id>: {<dimension id>: value|null}}}`;
 * - `alert` for each new alarm-log entry (the `/api/v1/alarm_log` object);
 * - `capture` when a capture's state, packets or bytes change (the capture's info);
 * - a `: keepalive` comment every 15 s so proxies keep the connection.
 *
 * Bounded: at most `maxClients` streams; a client that does not read (more than 1 MiB queued) is dropped
 * rather than buffered without end.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { statusName } from '../health/types.js';
import { nowSec, type ServerContext } from './context.js';
import { toJson } from './http.js';
import { logEntryJson } from './netdata-alarms.js';

const MAX_QUEUED_BYTES = 1 << 20;
const KEEPALIVE_MS = 15_000;

export class EventStream {
  private readonly ctx: ServerContext;
  private readonly clients = new Set<ServerResponse>();
  private readonly maxClients: number;
  private lastSlot = Number.NaN;
  private lastUniqueId: number;
  private lastKeepaliveMs = 0;
  private nextId = 1;
  private readonly captureSeen = new Map<string, string>();
  /** Clients dropped for not reading. */
  dropped = 0;

  constructor(ctx: ServerContext, maxClients: number) {
    this.ctx = ctx;
    this.maxClients = maxClients;
    const all = ctx.agent.health.log.all;
    this.lastUniqueId = all.length > 0 ? all[all.length - 1]!.uniqueId : 0;
  }

  get size(): number {
    return this.clients.size;
  }

  get full(): boolean {
    return this.clients.size >= this.maxClients;
  }

  attach(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-store',
      'X-Content-Type-Options': 'nosniff',
      Connection: 'keep-alive',
      // nginx: do not buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    this.clients.add(res);
    const drop = () => this.clients.delete(res);
    req.on('close', drop);
    res.on('close', drop);
    res.on('error', drop);
    this.write(res, 'hello', this.hello());
  }

  private hello(): Record<string, unknown> {
    const a = this.ctx.agent;
    return {
      now: nowSec(this.ctx),
      updateEvery: a.store.updateEvery,
      charts: a.store
        .allCharts()
        .filter((c) => !c.instance.def.hostOnly)
        .map((c) => ({
          id: c.instance.fullId,
          netns: c.instance.netns,
          context: c.instance.def.context,
          title: c.instance.def.title,
          units: c.instance.def.units,
          dimensions: c.series.map((s) => ({ id: s.dim.id, name: s.dim.name })),
        })),
      alerts: a.health.alerts.map((rt) => ({
        alert: rt.compiled.config.name,
        chart: rt.chartId,
        status: statusName(rt.status),
        value: rt.value,
        lastStatusChange: rt.lastStatusChange,
      })),
    };
  }

  private write(res: ServerResponse, event: string, data: unknown): void {
    if (res.writableLength > MAX_QUEUED_BYTES) {
      // A client that stopped reading: drop it rather than queue without bound.
      this.dropped++;
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(`id: ${this.nextId}\nevent: ${event}\ndata: ${toJson(data)}\n\n`);
  }

  private broadcast(event: string, data: unknown): void {
    this.nextId++;
    for (const c of [...this.clients]) this.write(c, event, data);
  }

  /** Called every second by the server: send what is new. Cheap when nobody listens. */
  pulse(): void {
    const a = this.ctx.agent;
    const store = a.store;
    const log = a.health.log.all;
    const newest = log.length > 0 ? log[log.length - 1]!.uniqueId : 0;
    if (this.clients.size === 0) {
      // Nothing to send; keep the cursors current so a client connecting later gets only what is new.
      this.lastUniqueId = newest;
      return;
    }
    let slot = Number.NaN;
    for (const c of store.allCharts()) {
      const t = store.lastT(c);
      if (!(t <= slot)) slot = t;
    }
    if (!Number.isNaN(slot) && !(slot <= this.lastSlot)) {
      this.lastSlot = slot;
      const charts: Record<string, Record<string, number>> = {};
      for (const c of store.allCharts()) {
        if (c.instance.def.hostOnly) continue;
        const dims: Record<string, number> = {};
        for (const s of c.series) dims[s.dim.id] = s.ring.get(slot);
        charts[c.instance.fullId] = dims;
      }
      this.broadcast('sample', { t: slot, charts });
    }
    if (newest > this.lastUniqueId) {
      const families = new Map(store.allCharts().map((c) => [c.instance.fullId, c.instance.def.family]));
      for (const e of log) {
        if (e.uniqueId <= this.lastUniqueId) continue;
        this.broadcast('alert', logEntryJson(this.ctx, e, families.get(e.chart) ?? ''));
      }
      this.lastUniqueId = newest;
    }
    if (a.captures) {
      for (const c of a.captures.list()) {
        const sig = `${c.state}/${c.packets}/${c.bytes}`;
        if (this.captureSeen.get(c.id) === sig) continue;
        this.captureSeen.set(c.id, sig);
        this.broadcast('capture', c);
      }
    }
    const now = this.ctx.nowMs();
    if (now - this.lastKeepaliveMs >= KEEPALIVE_MS) {
      this.lastKeepaliveMs = now;
      for (const c of this.clients) if (c.writableLength <= MAX_QUEUED_BYTES) c.write(': keepalive\n\n');
    }
  }

  close(): void {
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}
