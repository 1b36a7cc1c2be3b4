// 受付台: a new call from the keyboard — caller, type-ahead incident type, address
// candidates as you type (or a click on the map), caller position with its uncertainty,
// priority, narrative, cautions; likely duplicates before saving; link in one action.

import maplibregl from 'maplibre-gl';
import { ApiError, get, post, put, qs } from './api';
import type { Ctx } from './context';
import { typeName } from './context';
import { t } from './i18n';
import { KobanMap } from './map';
import { store } from './store';
import type { Incident } from './types';
import { clear, debounce, fmtAge, h, toast } from './ui';

interface Place {
  lat: number;
  lon: number;
  label: string;
}

function candPoint(c: Record<string, unknown>): { lat: number; lon: number } | null {
  const p = (c.point ?? c.location ?? c) as Record<string, unknown>;
  const lat = Number(p.lat ?? p.latitude);
  const lon = Number(p.lon ?? p.lng ?? p.longitude);
  return Number.isFinite(lat) && Number.isFinite(lon) ? { lat, lon } : null;
}

function candLabel(c: Record<string, unknown>): string {
  if (typeof c.label === 'string') return c.label;
  if (typeof c.address === 'string') return c.address;
  return [c.prefecture, c.municipality, c.town, c.koaza].filter((x) => typeof x === 'string' && x).join('');
}

function distanceM(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const r = 6_371_000;
  const toRad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * toRad;
  const dLon = (b.lon - a.lon) * toRad;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * toRad) * Math.cos(b.lat * toRad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(x));
}

export function mountCallTaker(root: HTMLElement, ctx: Ctx): () => void {
  let place: Place | null = null;
  let typeCode = '';
  let suggestions: { label: string; lat: number; lon: number }[] = [];
  let active = -1;
  let duplicates: Incident[] = [];
  let busy = false;

  const caller = h('input', { id: 'ct-caller', inputmode: 'tel', autocomplete: 'off', placeholder: '090-0000-0000' });
  const typeInput = h('input', { id: 'ct-type', autocomplete: 'off', role: 'combobox' });
  const typeList = h('ul', { class: 'suggest', id: 'ct-type-list', role: 'listbox' });
  const address = h('input', { id: 'ct-address', autocomplete: 'off', role: 'combobox', placeholder: t('address_hint') });
  const addrList = h('ul', { class: 'suggest', id: 'ct-address-list', role: 'listbox' });
  const placeInfo = h('div', { id: 'ct-place', class: 'hint' });
  const cLat = h('input', { id: 'ct-caller-lat', inputmode: 'decimal', size: 9 });
  const cLon = h('input', { id: 'ct-caller-lon', inputmode: 'decimal', size: 10 });
  const cRad = h('input', { id: 'ct-caller-radius', inputmode: 'numeric', size: 5, value: '50' });
  const priority = h('select', { id: 'ct-priority' }, [1, 2, 3, 4, 5].map((p) => h('option', { value: p }, `P${p}`)));
  priority.value = '3';
  const narrative = h('textarea', { id: 'ct-narrative', rows: 4 });
  const flags = ['armed', 'violent', 'mental_health', 'child'].map((f) => h('input', { type: 'checkbox', id: `ct-flag-${f}`, name: f }));
  const dupBox = h('div', { id: 'ct-duplicates', class: 'dups' });
  const result = h('div', { id: 'ct-result', class: 'result', role: 'status' });
  const mapEl = h('div', { class: 'map', id: 'ct-map' });

  const map = new KobanMap(mapEl, {
    onClick: (lat, lon) => void choosePlace({ lat, lon, label: `${lat.toFixed(5)}, ${lon.toFixed(5)}` }, true),
    onIncidentClick: (id) => {
      const i = store.incidents.get(id);
      if (i) toast(`${i.id} ${typeName(ctx, i.type_code)} P${i.priority}`);
    },
    filterIncident: (i) => i.state !== 'closed' && i.state !== 'cancelled',
  });

  function renderTypes(): void {
    const q = typeInput.value.trim().toLowerCase();
    const list = ctx.types.filter(
      (ty) => !q || ty.code.includes(q) || ty.name_ja.includes(q) || ty.name_en.toLowerCase().includes(q),
    );
    clear(
      typeList,
      list.slice(0, 8).map((ty, i) =>
        h('li', { role: 'option', 'data-code': ty.code, class: i === 0 ? 'active' : '', onmousedown: (e: Event) => { e.preventDefault(); chooseType(ty.code); } },
          `${ty.name_ja} / ${ty.name_en}`, h('span', { class: 'muted' }, ` P${ty.default_priority}`)),
      ),
    );
    typeList.hidden = document.activeElement !== typeInput || list.length === 0 || typeCode !== '' && typeInput.value === typeName(ctx, typeCode);
  }

  function chooseType(code: string): void {
    typeCode = code;
    const ty = ctx.types.find((x) => x.code === code);
    typeInput.value = typeName(ctx, code);
    if (ty) priority.value = String(ty.default_priority);
    typeList.hidden = true;
    updateDuplicates();
    address.focus();
  }

  typeInput.addEventListener('input', () => { typeCode = ''; renderTypes(); });
  typeInput.addEventListener('focus', renderTypes);
  typeInput.addEventListener('blur', () => setTimeout(() => (typeList.hidden = true), 100));
  typeInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || (e.key === 'Tab' && !typeCode && typeInput.value)) {
      const first = typeList.querySelector('li') as HTMLElement | null;
      if (first && !typeList.hidden) {
        e.preventDefault();
        chooseType(first.dataset.code!);
      }
    }
  });

  const suggest = debounce(async (q: string) => {
    if (q.length < 2) {
      suggestions = [];
      renderSuggestions();
      return;
    }
    try {
      const list = await get<Record<string, unknown>[]>(`/geo/suggest${qs({ q, limit: 8 })}`);
      if (address.value.trim() !== q) return;
      suggestions = list
        .map((c) => ({ label: candLabel(c), p: candPoint(c) }))
        .filter((c) => c.p)
        .map((c) => ({ label: c.label, lat: c.p!.lat, lon: c.p!.lon }));
      active = suggestions.length ? 0 : -1;
      renderSuggestions();
    } catch (e) {
      placeInfo.textContent = e instanceof ApiError ? e.message : String(e);
    }
  }, 120);

  function renderSuggestions(): void {
    clear(
      addrList,
      suggestions.map((s, i) =>
        h('li', { role: 'option', class: i === active ? 'active' : '', onmousedown: (e: Event) => { e.preventDefault(); void choosePlace(s, false); } }, s.label),
      ),
    );
    addrList.hidden = suggestions.length === 0 || document.activeElement !== address;
  }

  address.addEventListener('input', () => suggest(address.value.trim()));
  address.addEventListener('blur', () => setTimeout(() => (addrList.hidden = true), 100));
  address.addEventListener('keydown', async (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!suggestions.length) return;
      active = (active + (e.key === 'ArrowDown' ? 1 : -1) + suggestions.length) % suggestions.length;
      renderSuggestions();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (active >= 0 && suggestions[active]) return void choosePlace(suggestions[active], false);
      // No candidate list yet: geocode what was typed.
      try {
        const r = await get<{ best?: Record<string, unknown> | null; candidates?: Record<string, unknown>[] }>(
          `/geo/geocode${qs({ q: address.value.trim(), limit: 5 })}`,
        );
        const c = r.best ?? r.candidates?.[0];
        const p = c && candPoint(c);
        if (c && p) void choosePlace({ ...p, label: candLabel(c) }, false);
      } catch (x) {
        placeInfo.textContent = x instanceof ApiError ? x.message : String(x);
      }
    }
  });

  async function choosePlace(p: Place, fromMap: boolean): Promise<void> {
    place = p;
    if (!fromMap) address.value = p.label;
    suggestions = [];
    renderSuggestions();
    placeInfo.textContent = `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}`;
    placeInfo.dataset.lat = String(p.lat);
    placeInfo.dataset.lon = String(p.lon);
    if (!fromMap) map.flyTo(p.lat, p.lon, Math.max(map.map.getZoom(), 15));
    updateMarker();
    updateDuplicates();
    try {
      const r = await get<{ municipality?: { name: string } | null; station?: { name_ja: string } | null }>(
        `/geo/reverse${qs({ lat: p.lat, lon: p.lon })}`,
      );
      if (place === p) {
        placeInfo.textContent = `${p.lat.toFixed(5)}, ${p.lon.toFixed(5)} · ${t('municipality')}: ${r.municipality?.name ?? '—'} · ${t('station')}: ${r.station?.name_ja ?? '—'}`;
        if (fromMap && !address.value) address.value = r.municipality?.name ?? '';
      }
    } catch {
      /* reverse lookup is a nicety */
    }
  }

  let placeMarker: maplibregl.Marker | null = null;
  function updateMarker(): void {
    if (!place) {
      placeMarker?.remove();
      placeMarker = null;
      return;
    }
    if (!placeMarker) {
      placeMarker = new maplibregl.Marker({ element: h('div', { class: 'place-pin', title: 'incident location' }) });
      placeMarker.setLngLat([place.lon, place.lat]).addTo(map.map);
    }
    placeMarker.setLngLat([place.lon, place.lat]);
  }

  function callerPoint(): { lat: number; lon: number; radius_m: number } | null {
    const lat = parseFloat(cLat.value);
    const lon = parseFloat(cLon.value);
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return null;
    return { lat, lon, radius_m: Math.max(0, parseFloat(cRad.value) || 0) };
  }
  const updateCaller = () => {
    const p = callerPoint();
    map.setCaller(p);
    updateDuplicates();
  };
  for (const el of [cLat, cLon, cRad]) el.addEventListener('input', debounce(updateCaller, 200));

  function updateDuplicates(): void {
    const p = place ?? callerPoint();
    duplicates = [];
    if (p) {
      duplicates = [...store.incidents.values()]
        .filter((i) => i.state !== 'closed' && i.state !== 'cancelled')
        .map((i) => ({ i, d: distanceM(p, i.location.point) }))
        .filter(({ i, d }) => d <= 500 && (Date.now() * 1000 - i.created_us) / 1e6 < 3 * 3600 && (!typeCode || d < 200 || i.type_code === typeCode))
        .sort((a, b) => a.d - b.d)
        .slice(0, 9)
        .map(({ i }) => i);
    }
    clear(
      dupBox,
      h('h3', {}, t('duplicates')),
      duplicates.length === 0
        ? h('p', { class: 'muted' }, t('no_duplicates'))
        : h('ol', {}, duplicates.map((i, n) =>
            h('li', { 'data-id': i.id },
              h('b', {}, `${n + 1}. ${typeName(ctx, i.type_code)} P${i.priority}`),
              ` ${i.id} · ${Math.round(distanceM(p!, i.location.point))} m · ${fmtAge(i.created_us)} `,
              h('button', { class: 'link-dup', onclick: () => void linkTo(i.id) }, `${t('link')} (Alt+${n + 1})`),
            ))),
    );
  }

  function newCallBody(): Record<string, unknown> {
    return {
      caller_number: caller.value.trim() || null,
      caller_location: callerPoint() ?? (place ? { lat: place.lat, lon: place.lon, radius_m: 0 } : null),
      language: 'ja',
      statement: narrative.value,
      type_code: typeCode || null,
    };
  }

  async function linkTo(incidentId: string): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      const call = await post<{ call: { id: string } }>('/calls', newCallBody());
      await put(`/incidents/${encodeURIComponent(incidentId)}/calls/${encodeURIComponent(call.call.id)}`);
      result.textContent = `${t('linked')}: ${call.call.id} → ${incidentId}`;
      result.dataset.incident = incidentId;
      toast(result.textContent);
      reset();
    } catch (e) {
      result.textContent = `${t('error')}: ${e instanceof ApiError ? e.message : String(e)}`;
    } finally {
      busy = false;
    }
  }

  async function save(): Promise<void> {
    if (busy) return;
    const loc = place ?? callerPoint();
    if (!typeCode) {
      result.textContent = `${t('error')}: ${t('incident_type')}`;
      typeInput.focus();
      return;
    }
    if (!loc) {
      result.textContent = `${t('error')}: ${t('address')}`;
      address.focus();
      return;
    }
    busy = true;
    try {
      const call = await post<{ call: { id: string }; likely_duplicates: { incident_id: string }[] }>('/calls', newCallBody());
      const cautions = Object.fromEntries(flags.map((f) => [f.name, f.checked]));
      const inc = await post<Incident>('/incidents', {
        type_code: typeCode,
        priority: Number(priority.value),
        location: { lat: loc.lat, lon: loc.lon, radius_m: 0 },
        narrative: narrative.value,
        cautions,
        call_ids: [call.call.id],
      });
      store.upsertIncident(inc);
      result.textContent = `${t('saved')}: ${inc.id}`;
      result.dataset.incident = inc.id;
      toast(result.textContent);
      reset();
    } catch (e) {
      result.textContent = `${t('error')}: ${e instanceof ApiError ? `${e.message} (${e.field ?? e.code})` : String(e)}`;
    } finally {
      busy = false;
    }
  }

  function reset(): void {
    for (const el of [caller, typeInput, address, cLat, cLon, narrative]) el.value = '';
    cRad.value = '50';
    for (const f of flags) f.checked = false;
    priority.value = '3';
    typeCode = '';
    place = null;
    placeInfo.textContent = '';
    map.setCaller(null);
    updateMarker();
    updateDuplicates();
    caller.focus();
  }

  const form = h(
    'form',
    { class: 'calltaker-form', id: 'ct-form', onsubmit: (e: Event) => { e.preventDefault(); void save(); } },
    h('h2', {}, t('new_call')),
    h('label', {}, t('caller_number'), caller),
    h('label', { class: 'combo' }, t('incident_type'), typeInput, typeList),
    h('label', { class: 'combo' }, t('address'), address, addrList),
    placeInfo,
    h('fieldset', {}, h('legend', {}, t('caller_pos')), 'lat ', cLat, ' lon ', cLon, ` ${t('radius')} `, cRad),
    h('label', {}, t('priority'), priority),
    h('label', {}, t('narrative'), narrative),
    h('fieldset', { class: 'flags' }, h('legend', {}, t('cautions')), flags.map((f) => h('label', { class: 'inline' }, f, t(f.name)))),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: 'ct-save' }, `${t('save')} (Ctrl+Enter)`),
      h('button', { type: 'button', onclick: reset }, `${t('clear')} (Esc)`)),
    result,
    h('p', { class: 'shortcuts' }, t('sc_calltaker')),
  );

  clear(root, h('div', { class: 'calltaker' }, h('div', { class: 'left' }, form, dupBox), mapEl));
  typeList.hidden = true;
  addrList.hidden = true;
  updateDuplicates();
  caller.focus();

  const onKey = (e: KeyboardEvent) => {
    if (e.ctrlKey && e.key === 'Enter') {
      e.preventDefault();
      void save();
    } else if (e.altKey && (e.key === 'n' || e.key === 'N')) {
      e.preventDefault();
      reset();
    } else if (e.altKey && /^[1-9]$/.test(e.key)) {
      const i = duplicates[Number(e.key) - 1];
      if (i) {
        e.preventDefault();
        void linkTo(i.id);
      }
    } else if (e.key === 'Escape' && !document.getElementById('lock')) {
      if (!typeList.hidden || !addrList.hidden) {
        typeList.hidden = addrList.hidden = true;
      } else reset();
    }
  };
  window.addEventListener('keydown', onKey);
  const off = store.on((k) => { if (k === 'incident') updateDuplicates(); });
  return () => {
    window.removeEventListener('keydown', onKey);
    off();
    map.destroy();
  };
}
