// The offline map: every layer comes from koban (municipality boundaries and roads as
// GeoJSON generated from the imported data, incidents and units from the store). No tile
// server, no glyphs: only background, fill, line, circle and icon layers plus HTML
// overlays.

import maplibregl, { type GeoJSONSource, type LngLatBoundsLike } from 'maplibre-gl';
import 'maplibre-gl/dist/maplibre-gl.css';
import { get, qs } from './api';
import { store } from './store';
import type { Incident } from './types';

type FC = GeoJSON.FeatureCollection;
/** Least time between two redraws of the unit layer. */
const UNIT_REDRAW_MS = 400;
const empty = (): FC => ({ type: 'FeatureCollection', features: [] });

const STATUS_COLOURS: Record<string, string> = {
  available_at_station: '#4caf50',
  on_patrol: '#2bd9a0',
  dispatched: '#ffb300',
  on_scene: '#ff5252',
  transporting: '#ce93d8',
  break: '#90a4ae',
  maintenance: '#607d8b',
  at_station_admin: '#7986cb',
  off_duty: '#546e7a',
};

function circlePolygon(lat: number, lon: number, radiusM: number, steps = 48): GeoJSON.Polygon {
  const coords: [number, number][] = [];
  const dLat = radiusM / 111_320;
  const dLon = radiusM / (111_320 * Math.cos((lat * Math.PI) / 180));
  for (let i = 0; i <= steps; i++) {
    const a = (i / steps) * 2 * Math.PI;
    coords.push([lon + dLon * Math.cos(a), lat + dLat * Math.sin(a)]);
  }
  return { type: 'Polygon', coordinates: [coords] };
}

function arrowImage(): ImageData {
  const size = 32;
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const g = c.getContext('2d')!;
  g.fillStyle = '#ffffff';
  g.strokeStyle = '#0b0f14';
  g.lineWidth = 2;
  g.beginPath();
  g.moveTo(16, 2);
  g.lineTo(24, 20);
  g.lineTo(16, 15);
  g.lineTo(8, 20);
  g.closePath();
  g.fill();
  g.stroke();
  return g.getImageData(0, 0, size, size);
}

export interface MapOptions {
  onClick?: (lat: number, lon: number) => void;
  onIncidentClick?: (id: string) => void;
  filterIncident?: (i: Incident) => boolean;
}

export class KobanMap {
  map: maplibregl.Map;
  private ready = false;
  private dirty = new Set<string>();
  private frame = 0;
  private roadsBox: [number, number, number, number] | null = null;
  private boundsBox: [number, number, number, number] | null = null;
  private selected: string | null = null;
  private fitted = false;
  private lastUnitsFlush = 0;
  private unitsTimer = 0;
  private label: maplibregl.Marker | null = null;
  private unsubscribe: () => void;
  private routeLine: [number, number][] | null = null;
  private resizer: ResizeObserver;

  constructor(container: HTMLElement, private opts: MapOptions = {}) {
    this.map = new maplibregl.Map({
      container,
      style: {
        version: 8,
        sources: {},
        layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#0b0f14' } }],
      },
      center: [139.7671, 35.6812],
      zoom: 13,
      attributionControl: false,
      dragRotate: false,
      pitchWithRotate: false,
      fadeDuration: 0,
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
    this.map.on('load', () => this.init());
    // The container is often laid out after the map is made (and again on every layout change).
    this.resizer = new ResizeObserver(() => this.map.resize());
    this.resizer.observe(container);
    this.unsubscribe = store.on((kind, id) => {
      if (kind === 'unit' || kind === 'position' || kind === 'emergency' || kind === 'reset') this.mark('units');
      if (kind === 'incident' || kind === 'reset') this.mark('incidents');
      if (kind === 'incident' && id === this.selected) this.mark('label');
    });
  }

  destroy(): void {
    this.unsubscribe();
    this.resizer.disconnect();
    cancelAnimationFrame(this.frame);
    clearTimeout(this.unitsTimer);
    this.map.remove();
  }

  private mark(what: string): void {
    this.dirty.add(what);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.frame = 0;
    if (!this.ready) return;
    const d = this.dirty;
    this.dirty = new Set();
    // Unit positions arrive continuously; re-indexing a thousand points every frame would
    // eat the frame budget while panning, so they are redrawn at most every 400 ms.
    let units: FC | null = null;
    if (d.has('units')) {
      const wait = this.lastUnitsFlush + UNIT_REDRAW_MS - performance.now();
      if (wait > 0) {
        this.dirty.add('units');
        if (!this.unitsTimer) this.unitsTimer = window.setTimeout(() => { this.unitsTimer = 0; this.mark('units'); }, wait);
      } else {
        this.lastUnitsFlush = performance.now();
        units = this.unitsData();
      }
    }
    const incidents = d.has('incidents') ? this.incidentsData() : null;
    if (units) this.src('units').setData(units);
    if (incidents) this.src('incidents').setData(incidents);
    if (!this.fitted) this.fitOnce(incidents, units);
    if (d.has('incidents') || d.has('label')) this.updateLabel();
  }

  /** The first time there is something to show, frame it (a user's own prefecture). */
  private fitOnce(incidents: FC | null, units: FC | null): void {
    const pts = [...(incidents?.features ?? []), ...(units?.features ?? [])]
      .map((f) => (f.geometry as GeoJSON.Point).coordinates);
    if (pts.length === 0) return;
    this.fitted = true;
    const b = new maplibregl.LngLatBounds(pts[0] as [number, number], pts[0] as [number, number]);
    for (const p of pts) b.extend(p as [number, number]);
    this.map.fitBounds(b, { padding: 60, duration: 0, maxZoom: 15 });
    if (this.map.getZoom() < 11) this.map.setZoom(11);
  }

  private src(id: string): GeoJSONSource {
    return this.map.getSource(id) as GeoJSONSource;
  }

  private init(): void {
    const m = this.map;
    m.addImage('arrow', arrowImage(), { pixelRatio: 2 });
    for (const id of ['boundaries', 'roads', 'caller', 'incidents', 'units', 'route']) {
      m.addSource(id, { type: 'geojson', data: empty() });
    }
    // Boundaries as plain lines: a fill over the whole view costs a software renderer
    // a third of its frame rate.
    m.addLayer({
      id: 'boundaries-line',
      type: 'line',
      source: 'boundaries',
      paint: { 'line-color': '#5a7fa5', 'line-width': 1.5, 'line-opacity': 0.8 },
    });
    m.addLayer({
      id: 'roads-minor',
      type: 'line',
      source: 'roads',
      minzoom: 13,
      filter: ['==', ['get', 'class'], 'minor'],
      paint: { 'line-color': '#2c3846', 'line-width': ['interpolate', ['linear'], ['zoom'], 12, 0.6, 17, 5] },
    });
    m.addLayer({
      id: 'roads-major',
      type: 'line',
      source: 'roads',
      filter: ['==', ['get', 'class'], 'major'],
      paint: { 'line-color': '#56697d', 'line-width': ['interpolate', ['linear'], ['zoom'], 12, 1.4, 17, 9] },
    });
    m.addLayer({ id: 'route', type: 'line', source: 'route', paint: { 'line-color': '#40c4ff', 'line-width': 4, 'line-dasharray': [2, 1] } });
    m.addLayer({ id: 'caller-fill', type: 'fill', source: 'caller', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': '#ff9800', 'fill-opacity': 0.15 } });
    m.addLayer({ id: 'caller-line', type: 'line', source: 'caller', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'line-color': '#ff9800', 'line-width': 1.5 } });
    m.addLayer({
      id: 'caller-point',
      type: 'circle',
      source: 'caller',
      filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-radius': 6, 'circle-color': '#ff9800', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 },
    });
    m.addLayer({
      id: 'incidents',
      type: 'circle',
      source: 'incidents',
      paint: {
        'circle-radius': ['case', ['get', 'selected'], 13, ['match', ['get', 'priority'], 1, 10, 2, 9, 8]],
        'circle-color': [
          'case',
          ['get', 'done'],
          '#546e7a',
          ['match', ['get', 'priority'], 1, '#ff1744', 2, '#ff9100', 3, '#ffd600', '#448aff'],
        ],
        'circle-opacity': 0.9,
        'circle-stroke-color': ['case', ['get', 'selected'], '#ffffff', '#0b0f14'],
        'circle-stroke-width': ['case', ['get', 'selected'], 3, 1.5],
      },
    });
    m.addLayer({
      id: 'units-emergency',
      type: 'circle',
      source: 'units',
      filter: ['get', 'emergency'],
      paint: { 'circle-radius': 18, 'circle-color': '#ff1744', 'circle-opacity': 0.35, 'circle-stroke-color': '#ff1744', 'circle-stroke-width': 2 },
    });
    const colour: unknown[] = ['match', ['get', 'status']];
    for (const [k, v] of Object.entries(STATUS_COLOURS)) colour.push(k, v);
    colour.push('#9e9e9e');
    m.addLayer({
      id: 'units',
      type: 'circle',
      source: 'units',
      paint: {
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, 3, 15, 7],
        'circle-color': colour as maplibregl.ExpressionSpecification,
        'circle-stroke-color': ['case', ['get', 'stale'], '#616161', '#0b0f14'],
        'circle-stroke-width': 1.5,
      },
    });
    m.addLayer({
      id: 'units-heading',
      type: 'symbol',
      source: 'units',
      minzoom: 13,
      layout: {
        'icon-image': 'arrow',
        'icon-rotate': ['get', 'heading'],
        'icon-rotation-alignment': 'map',
        'icon-allow-overlap': true,
        'icon-ignore-placement': true,
        'icon-offset': [0, -14],
      },
    });
    m.on('click', (e) => {
      const hit = m.queryRenderedFeatures(e.point, { layers: ['incidents'] })[0];
      if (hit && this.opts.onIncidentClick) {
        this.opts.onIncidentClick(String(hit.properties?.id));
        return;
      }
      this.opts.onClick?.(e.lngLat.lat, e.lngLat.lng);
    });
    m.on('mouseenter', 'incidents', () => (m.getCanvas().style.cursor = 'pointer'));
    m.on('mouseleave', 'incidents', () => (m.getCanvas().style.cursor = ''));
    m.on('moveend', () => void this.loadReference());
    this.ready = true;
    if (this.routeLine) this.setRoute(this.routeLine);
    this.mark('units');
    this.mark('incidents');
    void this.loadReference();
  }

  private viewBox(pad: number, maxSpan: number): [number, number, number, number] {
    const b = this.map.getBounds();
    let [w, s, e, n] = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
    const dx = (e - w) * pad;
    const dy = (n - s) * pad;
    [w, s, e, n] = [w - dx, s - dy, e + dx, n + dy];
    const cx = (w + e) / 2;
    const cy = (s + n) / 2;
    const hx = Math.min((e - w) / 2, maxSpan / 2 - 1e-6);
    const hy = Math.min((n - s) / 2, maxSpan / 2 - 1e-6);
    return [cx - hx, cy - hy, cx + hx, cy + hy];
  }

  private static contains(outer: number[] | null, inner: number[]): boolean {
    return !!outer && outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
  }

  private async loadReference(): Promise<void> {
    if (!this.ready) return;
    const view = this.viewBox(0, 360);
    if (!KobanMap.contains(this.boundsBox, this.viewBox(0, 5.9))) {
      const box = this.viewBox(1, 5.9);
      this.boundsBox = box;
      try {
        const fc = await get<FC>(`/geo/boundaries${qs({ bbox: box.map((v) => v.toFixed(5)).join(',') })}`);
        this.src('boundaries').setData(fc);
      } catch {
        this.boundsBox = null;
      }
    }
    if (this.map.getZoom() >= 12 && !KobanMap.contains(this.roadsBox, view)) {
      const box = this.viewBox(0.75, 0.59);
      this.roadsBox = box;
      try {
        const fc = await get<FC>(`/geo/roads${qs({ bbox: box.map((v) => v.toFixed(5)).join(',') })}`);
        this.src('roads').setData(fc);
      } catch {
        this.roadsBox = null;
      }
    }
  }

  private unitsData(): FC {
    const emergency = new Set(store.emergencies.map((e) => e.unit_id));
    const features: GeoJSON.Feature[] = [];
    for (const [id, p] of store.positions) {
      const u = store.units.get(id);
      features.push({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [p.lon, p.lat] },
        properties: {
          id,
          status: u?.status ?? 'on_patrol',
          heading: p.heading,
          stale: u?.position_stale ?? false,
          emergency: emergency.has(id),
        },
      });
    }
    return { type: 'FeatureCollection', features };
  }

  private incidentsData(): FC {
    const features: GeoJSON.Feature[] = [];
    for (const i of store.incidents.values()) {
      if (this.opts.filterIncident && !this.opts.filterIncident(i)) continue;
      features.push({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [i.location.point.lon, i.location.point.lat] },
        properties: {
          id: i.id,
          priority: i.priority,
          done: i.state === 'closed' || i.state === 'cancelled' || i.state === 'cleared',
          selected: i.id === this.selected,
        },
      });
    }
    return { type: 'FeatureCollection', features };
  }

  /** Ids of the incidents now in the map's incident source (for tests and checks). */
  incidentIds(): string[] {
    return this.incidentsData().features.map((f) => String(f.properties?.id));
  }

  select(id: string | null, fly = true): void {
    this.selected = id;
    this.mark('incidents');
    const i = id ? store.incidents.get(id) : undefined;
    if (i && fly) this.map.easeTo({ center: [i.location.point.lon, i.location.point.lat], duration: 400 });
  }

  private updateLabel(): void {
    const i = this.selected ? store.incidents.get(this.selected) : undefined;
    if (!i) {
      this.label?.remove();
      this.label = null;
      return;
    }
    if (!this.label) {
      const el = document.createElement('div');
      el.className = 'map-label';
      this.label = new maplibregl.Marker({ element: el, anchor: 'bottom', offset: [0, -16] });
      this.label.setLngLat([i.location.point.lon, i.location.point.lat]).addTo(this.map);
    }
    this.label.setLngLat([i.location.point.lon, i.location.point.lat]);
    this.label.getElement().textContent = `${i.id} · P${i.priority}`;
  }

  setCaller(p: { lat: number; lon: number; radius_m: number } | null): void {
    const fc = empty();
    if (p) {
      if (p.radius_m > 0) fc.features.push({ type: 'Feature', geometry: circlePolygon(p.lat, p.lon, p.radius_m), properties: {} });
      fc.features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [p.lon, p.lat] }, properties: {} });
    }
    const apply = () => this.src('caller').setData(fc);
    if (this.ready) apply();
    else this.map.once('load', apply);
  }

  setRoute(line: [number, number][] | null): void {
    this.routeLine = line;
    if (!this.ready) return;
    const fc = empty();
    if (line) fc.features.push({ type: 'Feature', geometry: { type: 'LineString', coordinates: line }, properties: {} });
    this.src('route').setData(fc);
  }

  flyTo(lat: number, lon: number, zoom?: number): void {
    this.map.easeTo({ center: [lon, lat], zoom: zoom ?? this.map.getZoom(), duration: 400 });
  }

  fit(bounds: LngLatBoundsLike): void {
    this.map.fitBounds(bounds, { padding: 40, duration: 0, maxZoom: 15 });
  }
}
