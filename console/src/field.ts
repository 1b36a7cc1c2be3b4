// 現場端末 (mobile layout): the unit's current assignment with location and route,
// one-tap steps, position reports, messages with images, the emergency button.

import { ApiError, get, post, put, qs } from './api';
import type { Ctx } from './context';
import { typeName } from './context';
import { statusName, t } from './i18n';
import { KobanMap } from './map';
import { store } from './store';
import type { Message } from './types';
import { clear, fileToBase64, fmtDuration, h, toast } from './ui';

const STEPS = ['acknowledged', 'en_route', 'on_scene', 'cleared'];

export function mountField(root: HTMLElement, ctx: Ctx): () => void {
  let unitId = localStorage.getItem('koban.myUnit') ?? '';
  let armedAt = 0;
  let routeFor = '';
  let routePath: [number, number][] | null = null;

  const unitSel = h('select', { id: 'field-unit', onchange: () => { unitId = unitSel.value; localStorage.setItem('koban.myUnit', unitId); void loadInbox(); render(); } });
  const card = h('section', { id: 'field-assignment', class: 'card' });
  const steps = h('div', { class: 'steps', id: 'field-steps' });
  const routeInfo = h('p', { id: 'field-route', class: 'muted' });
  const inbox = h('ul', { id: 'field-inbox', class: 'messages' });
  const notes = h('textarea', { id: 'field-notes', rows: 3, placeholder: t('notes') });
  const emergency = h('button', { id: 'emergency-button', class: 'emergency', onclick: () => void pressEmergency() }, t('emergency_button'));
  const mapEl = h('div', { class: 'map small', id: 'field-map' });
  // A report to the command room: text, a photo from the camera or files, and where.
  const reportText = h('input', { id: 'report-text', placeholder: t('report_text') });
  const reportPhoto = h('input', { type: 'file', id: 'report-photo', accept: 'image/jpeg,image/png', capture: 'environment' });
  const reportForm = h('form', {
    id: 'report-form',
    class: 'report',
    onsubmit: async (ev: Event) => {
      ev.preventDefault();
      const f = reportPhoto.files?.[0];
      const where = myPosition();
      const incident = unitId ? store.activeAssignmentOfUnit(unitId)?.incident_id : undefined;
      try {
        const m = await post<Message>('/messages', {
          to: 'command',
          text: reportText.value,
          image_base64: f ? await fileToBase64(f) : null,
          location: where ? { lat: where.lat, lon: where.lon } : null,
          incident_id: incident ?? null,
        });
        store.upsertMessage(m);
        reportText.value = '';
        reportPhoto.value = '';
        toast(t('report_sent'));
      } catch (e) {
        toast(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
      }
    },
  }, reportText, h('label', { class: 'inline' }, t('photo'), reportPhoto), h('button', { type: 'submit', id: 'report-send' }, t('report_to_command')));
  const map = new KobanMap(mapEl, { filterIncident: (i) => i.id === store.activeAssignmentOfUnit(unitId)?.incident_id });

  function renderUnits(): void {
    const ids = [...store.units.keys()].sort((a, b) => a.localeCompare(b, 'ja', { numeric: true }));
    if (unitSel.options.length === ids.length + 1) return;
    clear(unitSel, h('option', { value: '' }, `— ${t('choose_unit')} —`), ids.map((id) => h('option', { value: id }, id)));
    unitSel.value = unitId;
  }

  async function loadInbox(): Promise<void> {
    if (!unitId) return;
    try {
      const list = await get<Message[]>(`/units/${encodeURIComponent(unitId)}/messages`);
      for (const m of list) store.upsertMessage(m);
    } catch {
      /* shown as empty */
    }
  }

  async function step(incidentId: string, s: string): Promise<void> {
    try {
      const a = await put<{ id?: string }>(`/incidents/${encodeURIComponent(incidentId)}/assignments/${encodeURIComponent(unitId)}`, { step: s });
      if (a && (a as { id?: string }).id) store.upsertAssignment(a as never);
      toast(`${unitId}: ${t(`step_${s}`)}`);
    } catch (e) {
      toast(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
    }
  }

  function myPosition(): { lat: number; lon: number } | null {
    const p = store.positions.get(unitId);
    return p ? { lat: p.lat, lon: p.lon } : null;
  }

  async function sendPosition(): Promise<void> {
    if (!unitId) return;
    const send = async (lat: number, lon: number) => {
      try {
        await post('/units/positions', { positions: [{ unit_id: unitId, lat, lon, at: new Date().toISOString() }] });
        store.setPosition(unitId, lat, lon);
        toast(`${t('send_position')}: ${lat.toFixed(5)}, ${lon.toFixed(5)}`);
      } catch (e) {
        toast(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
      }
    };
    if ('geolocation' in navigator) {
      navigator.geolocation.getCurrentPosition(
        (p) => void send(p.coords.latitude, p.coords.longitude),
        () => { const c = map.map.getCenter(); void send(c.lat, c.lng); },
        { timeout: 3000, maximumAge: 10_000 },
      );
    } else {
      const c = map.map.getCenter();
      await send(c.lat, c.lng);
    }
  }

  async function pressEmergency(): Promise<void> {
    if (!unitId) return;
    // Two presses within three seconds, so a pocket does not raise the alarm.
    if (Date.now() - armedAt > 3000) {
      armedAt = Date.now();
      emergency.classList.add('armed');
      emergency.textContent = `${t('emergency_button')} — ${t('acknowledge')}?`;
      setTimeout(() => { emergency.classList.remove('armed'); emergency.textContent = t('emergency_button'); }, 3000);
      return;
    }
    armedAt = 0;
    const p = myPosition();
    try {
      await post(`/units/${encodeURIComponent(unitId)}/emergency`, p ?? {});
      toast(`${t('emergency')}: ${unitId}`, 'error');
    } catch (e) {
      toast(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
    }
  }

  async function updateRoute(incLat: number, incLon: number, key: string): Promise<void> {
    const p = myPosition();
    if (!p) {
      map.setRoute(null);
      routeInfo.textContent = '';
      return;
    }
    if (routeFor === key) {
      map.setRoute(routePath ?? [[p.lon, p.lat], [incLon, incLat]]);
      return;
    }
    map.setRoute([[p.lon, p.lat], [incLon, incLat]]);
    routeFor = key;
    routePath = null;
    try {
      const r = await get<{ time_s: number; distance_m: number; path?: [number, number][] }>(`/geo/route${qs({ from_lat: p.lat, from_lon: p.lon, to_lat: incLat, to_lon: incLon })}`);
      // The road path when the server has one; the straight line stays otherwise.
      if (r.path && r.path.length >= 2) {
        routePath = r.path;
        map.setRoute(r.path);
      }
      routeInfo.textContent = `${t('route')}: ${(r.distance_m / 1000).toFixed(1)} km · ${fmtDuration(r.time_s)}`;
    } catch (e) {
      routeInfo.textContent = `${t('route')}: ${e instanceof ApiError ? e.message : String(e)}`;
    }
  }

  function render(): void {
    renderUnits();
    const a = unitId ? store.activeAssignmentOfUnit(unitId) : undefined;
    const i = a ? store.incidents.get(a.incident_id) : undefined;
    const u = store.units.get(unitId);
    if (!a) {
      clear(card, h('h2', {}, t('current_assignment')), h('p', { class: 'muted', id: 'field-none' }, unitId ? t('no_assignment') : t('choose_unit')),
        u ? h('p', {}, `${t('state')}: `, h('b', { id: 'field-unit-status' }, statusName(u.status))) : null);
      clear(steps);
      map.setRoute(null);
      routeInfo.textContent = '';
      return;
    }
    const cautions = i ? Object.entries(i.cautions ?? {}).filter(([, v]) => v).map(([k]) => t(k)) : [];
    clear(
      card,
      h('h2', {}, t('current_assignment')),
      h('p', { id: 'field-incident', 'data-id': a.incident_id, 'data-step': a.step },
        h('b', {}, i ? `P${i.priority} ${typeName(ctx, i.type_code)}` : a.incident_id), ` · ${statusName(a.step)}`),
      i ? h('p', {}, i.narrative) : null,
      cautions.length ? h('p', { class: 'caution' }, `⚠ ${cautions.join(' · ')}`) : null,
      i ? h('p', { class: 'muted' }, `${i.location.point.lat.toFixed(5)}, ${i.location.point.lon.toFixed(5)}`) : null,
      routeInfo,
      h('label', {}, t('notes'), notes),
    );
    const done = new Set(a.timeline.map((e) => e.to));
    clear(steps, STEPS.map((s) =>
      h('button', { class: `step ${a.step === s ? 'current' : ''} ${done.has(s) ? 'done' : ''}`, id: `step-${s}`, onclick: () => void step(a.incident_id, s) }, t(`step_${s}`))));
    notes.value = localStorage.getItem(`koban.notes.${a.incident_id}`) ?? '';
    notes.oninput = () => localStorage.setItem(`koban.notes.${a.incident_id}`, notes.value);
    if (i) void updateRoute(i.location.point.lat, i.location.point.lon, `${a.incident_id}|${Math.round((store.positions.get(unitId)?.at ?? 0) / 30000)}`);
  }

  function renderInbox(): void {
    const mine = [...store.messages.values()]
      .filter((m) => m.target_id === unitId || m.receipts.some((r) => r.unit_id === unitId))
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
    clear(inbox, mine.map((m) => {
      const r = m.receipts.find((x) => x.unit_id === unitId);
      return h('li', { 'data-id': m.id, class: r?.read_at ? 'read' : 'unread' },
        h('time', {}, new Date(m.created_at).toLocaleTimeString('ja-JP', { hour12: false })), ' ', m.text,
        m.location ? h('span', { class: 'muted' }, ` 📍${m.location[0].toFixed(4)}, ${m.location[1].toFixed(4)}`) : null,
        m.image_base64 && m.image_type ? h('img', { src: `data:${m.image_type};base64,${m.image_base64}`, alt: t('image'), class: 'msg-img' }) : null,
        !r?.read_at ? h('button', { class: 'small', onclick: async () => {
          try { store.upsertMessage(await post<Message>(`/messages/${encodeURIComponent(m.id)}/read`, { unit_id: unitId })); } catch { /* ignore */ }
        } }, t('read')) : null);
    }));
  }

  clear(
    root,
    h('div', { class: 'field' },
      h('label', { class: 'unit-pick' }, t('my_unit'), unitSel),
      card,
      steps,
      mapEl,
      h('div', { class: 'actions' }, h('button', { id: 'send-position', onclick: () => void sendPosition() }, t('send_position')), emergency),
      h('h3', {}, t('report_to_command')),
      reportForm,
      h('h3', {}, t('inbox')),
      inbox),
  );
  render();
  renderInbox();
  void loadInbox();
  let frame = 0;
  const off = store.on((kind, id) => {
    if (kind === 'message') renderInbox();
    if ((kind === 'position' || kind === 'unit') && id !== unitId) return;
    if (['assignment', 'incident', 'unit', 'reset', 'position'].includes(kind) && !frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        if (document.activeElement !== notes) render();
      });
    }
  });
  const inboxTimer = window.setInterval(() => void loadInbox(), 5_000);
  return () => {
    off();
    cancelAnimationFrame(frame);
    clearInterval(inboxTimer);
    map.destroy();
  };
}
