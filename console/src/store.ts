// What the console knows: incidents, units, assignments and messages in the user's
// scope, kept current by the event stream (or by polling while it is unavailable).

import { get, qs } from './api';
import type { Assignment, Incident, Message, StreamEvent, Unit, UnitPos } from './types';

export type ChangeKind = 'incident' | 'unit' | 'position' | 'assignment' | 'message' | 'emergency' | 'stream' | 'reset';

export interface Emergency {
  unit_id: string;
  lat?: number;
  lon?: number;
  at: string;
  by?: string;
}

function bearing(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const toRad = Math.PI / 180;
  const y = Math.sin((b.lon - a.lon) * toRad) * Math.cos(b.lat * toRad);
  const x =
    Math.cos(a.lat * toRad) * Math.sin(b.lat * toRad) -
    Math.sin(a.lat * toRad) * Math.cos(b.lat * toRad) * Math.cos((b.lon - a.lon) * toRad);
  return ((Math.atan2(y, x) / toRad) + 360) % 360;
}

class Store extends EventTarget {
  incidents = new Map<string, Incident>();
  units = new Map<string, Unit>();
  positions = new Map<string, UnitPos>();
  assignments = new Map<string, Assignment>(); // key incident_id + '|' + unit_id
  messages = new Map<string, Message>();
  emergencies: Emergency[] = [];
  /** When each incident was first known here (performance.now()), for the test hooks. */
  firstSeen = new Map<string, number>();

  private emit(kind: ChangeKind, id?: string): void {
    this.dispatchEvent(new CustomEvent('change', { detail: { kind, id } }));
  }

  on(fn: (kind: ChangeKind, id?: string) => void): () => void {
    const h = (e: Event) => {
      const d = (e as CustomEvent).detail as { kind: ChangeKind; id?: string };
      fn(d.kind, d.id);
    };
    this.addEventListener('change', h);
    return () => this.removeEventListener('change', h);
  }

  notify(kind: ChangeKind, id?: string): void {
    this.emit(kind, id);
  }

  clear(): void {
    this.incidents.clear();
    this.units.clear();
    this.positions.clear();
    this.assignments.clear();
    this.messages.clear();
    this.emergencies = [];
    this.emit('reset');
  }

  upsertIncident(i: Incident): void {
    const old = this.incidents.get(i.id);
    if (!this.firstSeen.has(i.id)) this.firstSeen.set(i.id, performance.timeOrigin + performance.now());
    // A list item may lack the timeline that a full read carried.
    if (old?.timeline && !i.timeline) i = { ...i, timeline: old.timeline };
    this.incidents.set(i.id, i);
    this.emit('incident', i.id);
  }

  upsertUnit(u: Unit): void {
    this.units.set(u.id, u);
    if (u.position) {
      this.setPosition(u.id, u.position.point.lat, u.position.point.lon, undefined, u.position.at_us / 1000, false);
    }
    this.emit('unit', u.id);
  }

  setPosition(id: string, lat: number, lon: number, heading?: number, atMs?: number, emit = true): void {
    const old = this.positions.get(id);
    if (old && atMs !== undefined && atMs < old.at) return;
    let h = heading;
    if (h === undefined || h === null || Number.isNaN(h)) {
      h = old && (old.lat !== lat || old.lon !== lon) ? bearing(old, { lat, lon }) : old?.heading ?? 0;
    }
    this.positions.set(id, { lat, lon, heading: h, at: atMs ?? Date.now() });
    if (emit) this.emit('position', id);
  }

  upsertAssignment(a: Assignment): void {
    this.assignments.set(`${a.incident_id}|${a.unit_id}`, a);
    this.emit('assignment', a.incident_id);
  }

  upsertMessage(m: Message): void {
    this.messages.set(m.id, m);
    this.emit('message', m.id);
  }

  assignmentsOf(incidentId: string): Assignment[] {
    return [...this.assignments.values()].filter((a) => a.incident_id === incidentId);
  }

  activeAssignmentOfUnit(unitId: string): Assignment | undefined {
    return [...this.assignments.values()]
      .filter((a) => a.unit_id === unitId && a.active)
      .sort((a, b) => (b.timeline.at(-1)?.at_us ?? 0) - (a.timeline.at(-1)?.at_us ?? 0))[0];
  }

  /** Applies one event of the stream. */
  apply(ev: StreamEvent): void {
    const d = ev.data;
    switch (ev.kind) {
      case 'incident.created':
      case 'incident.updated':
        this.upsertIncident(d as Incident);
        break;
      case 'unit.updated':
        this.upsertUnit(d as Unit);
        break;
      case 'unit.position':
        this.setPosition(d.unit_id, d.lat, d.lon, d.heading_deg ?? undefined, Date.parse(d.reported_at) || undefined);
        break;
      case 'unit.emergency':
        this.emergencies.push({ unit_id: d.unit_id, lat: d.lat, lon: d.lon, at: d.at ?? ev.at, by: d.by });
        this.emit('emergency', d.unit_id);
        break;
      case 'assignment.updated':
        this.upsertAssignment(d as Assignment);
        break;
      case 'message.created':
      case 'message.updated':
        this.upsertMessage(d as Message);
        break;
      default:
        break;
    }
  }

  /** Loads everything in scope afresh (start-up, reconnect without resume, polling). */
  async refresh(opts: { assignments: boolean }): Promise<void> {
    const [incidents, units] = await Promise.all([
      get<Incident[]>(`/incidents${qs({ open: true, limit: 500 })}`),
      get<Unit[]>('/units').catch(() => [] as Unit[]),
    ]);
    const open = new Set(incidents.map((i) => i.id));
    for (const i of incidents) {
      const old = this.incidents.get(i.id);
      if (!old || JSON.stringify({ ...old, timeline: undefined }) !== JSON.stringify({ ...i, timeline: undefined })) {
        this.upsertIncident(i);
      }
    }
    // Incidents that left the open list: read them once to learn their final state.
    for (const [id, i] of this.incidents) {
      if (!open.has(id) && i.state !== 'closed' && i.state !== 'cancelled') {
        try {
          this.upsertIncident(await get<Incident>(`/incidents/${encodeURIComponent(id)}`));
        } catch {
          /* out of scope now */
        }
      }
    }
    let moved = false;
    for (const u of units) {
      const old = this.units.get(u.id);
      this.units.set(u.id, u);
      if (u.position && old?.position?.at_us !== u.position.at_us) {
        this.setPosition(u.id, u.position.point.lat, u.position.point.lon, undefined, u.position.at_us / 1000, false);
        moved = true;
      }
      // Status changes redraw boards; a new position only moves the dot.
      if (!old || old.status !== u.status || old.position_stale !== u.position_stale) this.emit('unit', u.id);
    }
    if (moved) this.emit('position');
    if (opts.assignments) {
      await Promise.all(
        incidents.map(async (i) => {
          const list = await get<Assignment[]>(`/incidents/${encodeURIComponent(i.id)}/assignments`).catch(
            () => [] as Assignment[],
          );
          for (const a of list) {
            const old = this.assignments.get(`${a.incident_id}|${a.unit_id}`);
            if (!old || old.step !== a.step || old.active !== a.active) this.upsertAssignment(a);
          }
        }),
      );
    }
  }
}

export const store = new Store();
