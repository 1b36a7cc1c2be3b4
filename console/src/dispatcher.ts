// 指令台: incident queue by priority and age, unit board by station, recommendation for
// the selected incident, dispatch in one action, timeline, messages, emergency alerts.

import { ApiError, get, post, put } from './api';
import type { Ctx } from './context';
import { dispositionName, typeName } from './context';
import { statusName, t } from './i18n';
import { KobanMap } from './map';
import { store } from './store';
import type { Assignment, Incident, Message, Recommendation } from './types';
import { clear, debounce, fileToBase64, fmtAge, fmtDuration, fmtTime, h, toast } from './ui';

/** Minutes after which an undispatched incident of each priority is overdue. */
const OVERDUE_MIN: Record<number, number> = { 1: 2, 2: 5, 3: 15, 4: 30, 5: 60 };
const OPEN_STATES = new Set(['created', 'new', 'received', 'pending', 'dispatched', 'on_scene', 'cleared']);

export function isOpen(i: Incident): boolean {
  return i.state !== 'closed' && i.state !== 'cancelled';
}

function overdue(i: Incident): boolean {
  if (i.state !== 'created' && i.state !== 'pending' && i.state !== 'new') return false;
  const ageMin = (Date.now() * 1000 - i.created_us) / 60e6;
  return ageMin > (OVERDUE_MIN[i.priority] ?? 30);
}

export function mountDispatcher(root: HTMLElement, ctx: Ctx): () => void {
  let selected: string | null = null;
  let filter = '';
  let rec: Recommendation | null = null;
  let recFor: string | null = null;

  const queue = h('ol', { id: 'queue', class: 'queue' });
  const filterInput = h('input', { id: 'queue-filter', placeholder: `${t('filter')} (/)`, oninput: () => { filter = filterInput.value.trim(); renderQueue(); } });
  const board = h('div', { id: 'unit-board', class: 'board' });
  const detail = h('section', { id: 'detail', class: 'detail' });
  const mapEl = h('div', { class: 'map', id: 'dispatch-map' });
  const map = new KobanMap(mapEl, {
    onIncidentClick: (id) => select(id),
    filterIncident: isOpen,
  });

  function sortedOpen(): Incident[] {
    return [...store.incidents.values()]
      .filter((i) => OPEN_STATES.has(i.state) || isOpen(i))
      .filter((i) => !filter || i.id.includes(filter) || typeName(ctx, i.type_code).includes(filter) || i.type_code.includes(filter))
      .sort((a, b) => a.priority - b.priority || a.created_us - b.created_us);
  }

  function renderQueue(): void {
    const list = sortedOpen();
    clear(
      queue,
      list.map((i) =>
        h(
          'li',
          {
            'data-id': i.id,
            'data-state': i.state,
            class: `p${i.priority} ${i.id === selected ? 'selected' : ''} ${overdue(i) ? 'overdue' : ''}`,
            tabindex: 0,
            onclick: () => select(i.id),
          },
          h('span', { class: 'prio' }, `P${i.priority}`),
          h('span', { class: 'type' }, typeName(ctx, i.type_code)),
          h('span', { class: 'state' }, statusName(i.state === 'dispatched' ? 'dispatched_incident' : i.state)),
          h('span', { class: 'age', 'data-created': i.created_us }, fmtAge(i.created_us)),
          Object.entries(i.cautions ?? {}).some(([, v]) => v) ? h('span', { class: 'caution' }, '⚠') : null,
        ),
      ),
    );
  }

  function renderBoard(): void {
    const byStation = new Map<string, typeof units>();
    const units = [...store.units.values()].sort((a, b) => a.id.localeCompare(b.id, 'ja', { numeric: true }));
    for (const u of units) {
      const l = byStation.get(u.home_station_id) ?? [];
      l.push(u);
      byStation.set(u.home_station_id, l);
    }
    const emergency = new Set(store.emergencies.map((e) => e.unit_id));
    clear(
      board,
      h('h3', {}, t('units')),
      [...byStation.entries()].map(([st, list]) =>
        h('div', { class: 'station' },
          h('h4', {}, `${st} (${list.length})`),
          h('div', { class: 'chips' }, list.slice(0, 400).map((u) =>
            h('span', {
              class: `chip s-${u.status} ${u.position_stale ? 'stale' : ''} ${emergency.has(u.id) ? 'emergency' : ''}`,
              'data-unit': u.id,
              'data-status': u.status,
              title: `${u.id} ${statusName(u.status)}${u.position_stale ? ' · ' + t('stale') : ''}`,
            }, u.id, h('small', {}, statusName(u.status))))),
        ),
      ),
    );
  }

  async function loadRecommendation(id: string): Promise<void> {
    try {
      const r = await get<Recommendation>(`/incidents/${encodeURIComponent(id)}/recommendation`);
      if (selected === id) {
        rec = r;
        recFor = id;
        renderDetail();
      }
    } catch (e) {
      if (selected === id) {
        rec = null;
        recFor = id;
        renderDetail(e instanceof ApiError ? e.message : String(e));
      }
    }
  }
  const refreshRec = debounce(() => { if (selected) void loadRecommendation(selected); }, 1500);

  async function loadIncident(id: string): Promise<void> {
    try {
      const [inc, asg] = await Promise.all([
        get<Incident>(`/incidents/${encodeURIComponent(id)}`),
        get<Assignment[]>(`/incidents/${encodeURIComponent(id)}/assignments`),
      ]);
      store.upsertIncident(inc);
      for (const a of asg) store.upsertAssignment(a);
    } catch {
      /* shown by the detail panel */
    }
  }

  function select(id: string | null): void {
    selected = id;
    rec = null;
    recFor = null;
    map.select(id);
    renderQueue();
    renderDetail();
    if (id) {
      void loadIncident(id);
      void loadRecommendation(id);
      queue.querySelector(`[data-id="${id}"]`)?.scrollIntoView({ block: 'nearest' });
    }
  }

  async function dispatch(unitId: string): Promise<void> {
    if (!selected) return;
    const id = selected;
    try {
      const r = await post<Assignment[] | { assignments?: Assignment[] }>(`/incidents/${encodeURIComponent(id)}/assignments`, { unit_ids: [unitId] });
      const list = Array.isArray(r) ? r : r.assignments ?? [];
      for (const a of list) store.upsertAssignment(a);
      toast(`${t('dispatch')}: ${unitId} → ${id}`);
      void loadIncident(id);
      void loadRecommendation(id);
    } catch (e) {
      toast(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
    }
  }

  async function transition(command: string, disposition?: string): Promise<void> {
    if (!selected) return;
    try {
      const inc = await post<Incident>(`/incidents/${encodeURIComponent(selected)}/transitions`, { command, disposition: disposition ?? null, note: '' });
      if (inc && (inc as Incident).id) store.upsertIncident(inc);
      else void loadIncident(selected);
      toast(`${t('transition')}: ${command}`);
    } catch (e) {
      toast(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
    }
  }

  async function advance(unitId: string, step: string): Promise<void> {
    if (!selected) return;
    try {
      const a = await put<Assignment>(`/incidents/${encodeURIComponent(selected)}/assignments/${encodeURIComponent(unitId)}`, { step });
      if (a?.id) store.upsertAssignment(a);
      void loadIncident(selected);
    } catch (e) {
      toast(`${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`, 'error');
    }
  }

  function renderDetail(recError?: string): void {
    const i = selected ? store.incidents.get(selected) : undefined;
    if (!i) {
      clear(detail, h('p', { class: 'muted' }, t('select_incident')), h('p', { class: 'shortcuts' }, t('sc_dispatcher')));
      return;
    }
    const asg = store.assignmentsOf(i.id);
    const timeline = [
      ...(i.timeline ?? []).map((e) => ({ at: e.at_us, text: `${statusName(e.from ?? '')} → ${statusName(e.to)}${e.note ? ' · ' + e.note : ''}` })),
      ...asg.flatMap((a) => a.timeline.map((e) => ({ at: e.at_us, text: `${a.unit_id}: ${statusName(e.to)}` }))),
    ].sort((a, b) => a.at - b.at);
    const disp = h('select', { id: 'disposition' }, ctx.dispositions.map((d) => h('option', { value: d.code }, dispositionName(ctx, d.code))));
    const msgText = h('input', { id: 'msg-text', placeholder: t('message_text') });
    const msgTo = h('select', { id: 'msg-to' }, [...new Set([...asg.map((a) => a.unit_id), ...(rec?.ranked.slice(0, 5).map((r) => r.unit_id) ?? [])])].map((u) => h('option', { value: u }, u)));
    const msgImage = h('input', { type: 'file', id: 'msg-image', accept: 'image/jpeg,image/png' });
    const msgLoc = h('input', { type: 'checkbox', id: 'msg-loc', checked: true });
    const cautions = Object.entries(i.cautions ?? {}).filter(([, v]) => v).map(([k]) => t(k));
    const recBody = recFor !== i.id
      ? h('p', { class: 'muted' }, '…')
      : recError
        ? h('p', { class: 'error' }, recError)
        : rec
          ? [
              h('table', { class: 'rec', id: 'rec-table' },
                h('tr', {}, h('th', {}, '#'), h('th', {}, 'unit'), h('th', {}, t('eta')), h('th', {}, 'km'), h('th', {}, t('state')), h('th', {})),
                rec.ranked.slice(0, 8).map((r) =>
                  h('tr', { 'data-unit': r.unit_id, class: r.dispatchability },
                    h('td', {}, r.rank), h('td', {}, r.unit_id), h('td', {}, fmtDuration(r.eta_s)),
                    h('td', {}, (r.distance_m / 1000).toFixed(1)),
                    h('td', {}, statusName(r.status), r.warnings.length ? h('small', { class: 'warn' }, ` ${r.warnings.join(', ')}`) : null),
                    h('td', {}, h('button', { class: 'dispatch-btn', disabled: r.dispatchability === 'blocked', onclick: () => void dispatch(r.unit_id) }, t('dispatch'))),
                  ))),
              rec.excluded.length
                ? h('details', { class: 'excluded' }, h('summary', {}, `${t('excluded')} (${rec.excluded.length})`),
                    h('ul', {}, rec.excluded.slice(0, 50).map((x) => h('li', {}, `${x.unit_id}: ${typeof x.reason === 'string' ? x.reason : JSON.stringify(x.reason)}`))))
                : null,
              h('p', { class: 'muted' }, `travel model: ${rec.travel_model}`),
            ]
          : null;
    clear(
      detail,
      h('h2', { id: 'detail-title' }, `P${i.priority} ${typeName(ctx, i.type_code)}`),
      h('p', { class: 'muted' }, i.id, ' · ', h('span', { id: 'detail-state', 'data-state': i.state }, statusName(i.state === 'dispatched' ? 'dispatched_incident' : i.state)), i.disposition ? ` · ${dispositionName(ctx, i.disposition)}` : ''),
      h('p', {}, i.narrative),
      cautions.length ? h('p', { class: 'caution' }, `⚠ ${cautions.join(' · ')}`) : null,
      h('h3', {}, t('recommendation')),
      h('button', { id: 'dispatch-top', class: 'primary', disabled: !rec?.ranked.some((r) => r.dispatchability === 'dispatchable'), onclick: () => { const top = rec?.ranked.find((r) => r.dispatchability === 'dispatchable'); if (top) void dispatch(top.unit_id); } }, t('dispatch_top')),
      recBody,
      h('h3', {}, t('dispatch')),
      h('ul', { id: 'assignments', class: 'assignments' }, asg.map((a) =>
        h('li', { 'data-unit': a.unit_id, 'data-step': a.step, class: a.active ? '' : 'inactive' },
          h('b', {}, a.unit_id), ` ${statusName(a.step)} `,
          a.active ? ['acknowledged', 'en_route', 'on_scene', 'cleared'].map((s) => h('button', { class: 'small', onclick: () => void advance(a.unit_id, s) }, t(`step_${s}`))) : null))),
      h('h3', {}, t('transition')),
      h('div', { class: 'actions' },
        ['arrive_on_scene', 'clear', 'cancel', 'reopen'].map((c) => h('button', { class: 'small', id: `tr-${c}`, onclick: () => void transition(c) }, c.replace(/_/g, ' '))),
        disp,
        h('button', { id: 'close-incident', class: 'danger', onclick: () => void transition('close', disp.value) }, `${t('close_incident')} (C)`)),
      h('h3', {}, t('messages')),
      h('form', {
        class: 'msg-form', id: 'msg-form',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          if (!msgTo.value) return;
          try {
            const f = msgImage.files?.[0];
            await post('/messages', {
              to: 'unit',
              target_id: msgTo.value,
              incident_id: i.id,
              text: msgText.value,
              location: msgLoc.checked ? { lat: i.location.point.lat, lon: i.location.point.lon, radius_m: 0 } : null,
              image_base64: f ? await fileToBase64(f) : null,
            });
            msgText.value = '';
            msgImage.value = '';
            toast(`${t('send')}: ${msgTo.value}`);
          } catch (x) {
            toast(`${t('error')}: ${x instanceof ApiError ? x.message : String(x)}`, 'error');
          }
        },
      }, msgTo, msgText, msgImage, h('label', { class: 'inline' }, msgLoc, t('attach_location')), h('button', { type: 'submit' }, t('send'))),
      h('ul', { class: 'messages' }, [...store.messages.values()].filter((m) => m.incident_id === i.id).map((m) =>
        m.to === 'command'
          ? h('li', { class: 'field-report' }, `📨 ${t('field_report')}: ${m.text}`,
            m.image_type ? h('button', { class: 'small', onclick: async (ev: Event) => {
              // Images stay out of the live stream; fetch this one when asked.
              const full = await get<Message>(`/messages/${encodeURIComponent(m.id)}`);
              const btn = ev.target as HTMLElement;
              if (full.image_base64) btn.replaceWith(h('img', { src: `data:${full.image_type};base64,${full.image_base64}`, alt: t('photo'), class: 'msg-img' }));
            } }, `📷 ${t('photo')}`) : null)
          : h('li', {}, `${m.target_id ?? m.to}: ${m.text}`, m.receipts.some((r) => r.read_at) ? ' ✓✓' : m.receipts.some((r) => r.delivered_at) ? ' ✓' : ''))),
      h('h3', {}, t('timeline')),
      h('ol', { id: 'timeline', class: 'timeline' }, timeline.map((e) => h('li', {}, h('time', {}, fmtTime(e.at)), ' ', e.text))),
    );
  }

  clear(
    root,
    h('div', { class: 'dispatcher' },
      h('aside', { class: 'queue-pane' }, h('h3', {}, t('queue')), filterInput, queue),
      h('div', { class: 'centre' }, mapEl, board),
      detail),
  );
  renderQueue();
  renderBoard();
  renderDetail();

  // Redraw what changed, at most once a frame for the queue and a few times a second for the board.
  let queueDirty = false;
  let frame = 0;
  const renderBoardSoon = debounce(renderBoard, 300);
  const reported = new Set<string>();
  const off = store.on((kind, id) => {
    if (kind === 'message' && id && !reported.has(id)) {
      const m = store.messages.get(id);
      if (m?.to === 'command') {
        reported.add(id);
        toast(`📨 ${t('field_report')}: ${m.text}`);
      }
    }
    if (kind === 'incident' || kind === 'reset') queueDirty = true;
    if (kind === 'unit' || kind === 'emergency') {
      renderBoardSoon();
      if (kind === 'unit') refreshRec();
    }
    if (selected && ((kind === 'incident' && id === selected) || (kind === 'assignment' && id === selected) || kind === 'message')) {
      queueDirty = true;
    }
    if (queueDirty && !frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        queueDirty = false;
        renderQueue();
        const keep = document.activeElement?.id;
        if (keep !== 'msg-text') renderDetail();
      });
    }
  });
  const ticker = window.setInterval(() => {
    for (const el of queue.querySelectorAll<HTMLElement>('.age')) el.textContent = fmtAge(Number(el.dataset.created));
    for (const li of queue.querySelectorAll<HTMLElement>('li')) {
      const i = store.incidents.get(li.dataset.id ?? '');
      if (i) li.classList.toggle('overdue', overdue(i));
    }
  }, 1000);

  const onKey = (e: KeyboardEvent) => {
    const tag = (e.target as HTMLElement).tagName;
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || e.ctrlKey || e.metaKey || e.altKey) {
      if (e.key === 'Escape') (e.target as HTMLElement).blur();
      return;
    }
    const list = sortedOpen();
    const idx = list.findIndex((i) => i.id === selected);
    if (e.key === 'j' || e.key === 'ArrowDown') {
      e.preventDefault();
      select(list[Math.min(idx + 1, list.length - 1)]?.id ?? null);
    } else if (e.key === 'k' || e.key === 'ArrowUp') {
      e.preventDefault();
      select(list[Math.max(idx - 1, 0)]?.id ?? null);
    } else if (e.key === 'd' || e.key === 'D') {
      (document.getElementById('dispatch-top') as HTMLButtonElement | null)?.click();
    } else if (e.key === 'm' || e.key === 'M') {
      e.preventDefault();
      document.getElementById('msg-text')?.focus();
    } else if (e.key === 'c' || e.key === 'C') {
      document.getElementById('close-incident')?.click();
    } else if (e.key === '/') {
      e.preventDefault();
      filterInput.focus();
    }
  };
  window.addEventListener('keydown', onKey);
  (window as unknown as { __kobanDispatchMap?: KobanMap }).__kobanDispatchMap = map;
  return () => {
    off();
    cancelAnimationFrame(frame);
    clearInterval(ticker);
    window.removeEventListener('keydown', onKey);
    map.destroy();
  };
}
