// koban console: log-on, idle lock, the screens of each role, the event stream.

import './style.css';
import { ApiError, get, post, setToken, getToken } from './api';
import { getLang, setLang, t } from './i18n';
import { store } from './store';
import { EventStream } from './stream';
import { h, clear, toast } from './ui';
import type { Ctx } from './context';
import type { Disposition, IncidentType, Session } from './types';
import { mountCallTaker } from './calltaker';
import { mountDispatcher } from './dispatcher';
import { mountField } from './field';
import { mountStats } from './stats';

const app = document.getElementById('app')!;
setLang(getLang());

interface Screen {
  id: string;
  label: string;
  roles: string[];
  mount: (root: HTMLElement, ctx: Ctx) => () => void;
}

const screens: Screen[] = [
  { id: 'calltaker', label: 'calltaker', roles: ['call_taker', 'dispatcher'], mount: mountCallTaker },
  { id: 'dispatch', label: 'dispatcher', roles: ['dispatcher'], mount: mountDispatcher },
  { id: 'field', label: 'field', roles: ['field_officer'], mount: mountField },
  { id: 'stats', label: 'stats', roles: ['dispatcher', 'analyst', 'administrator', 'auditor'], mount: mountStats },
];

let ctx: Ctx | null = null;
let stream: EventStream | null = null;
let unmount: (() => void) | null = null;
let username = sessionStorage.getItem('koban.username') ?? '';

// Test and diagnostics hooks (read-only views of the console's state).
(window as unknown as { __koban: unknown }).__koban = { store, get stream() { return stream; } };

function loginForm(onDone: (token: string) => void, lockedUser?: string): HTMLElement {
  const err = h('div', { class: 'error', role: 'alert' });
  const user = h('input', { id: 'login-username', autocomplete: 'username', value: lockedUser ?? '', readonly: !!lockedUser });
  const pass = h('input', { id: 'login-password', type: 'password', autocomplete: 'current-password' });
  const totp = h('input', { id: 'login-totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 8 });
  const form = h(
    'form',
    {
      class: 'login',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        err.textContent = '';
        try {
          const r = await post<{ token: string }>('/auth/login', {
            username: user.value.trim(),
            password: pass.value,
            totp_code: totp.value.trim(),
          });
          username = user.value.trim();
          sessionStorage.setItem('koban.username', username);
          onDone(r.token);
        } catch (x) {
          err.textContent = x instanceof ApiError ? `${x.message} (${x.code})` : String(x);
          totp.value = '';
          totp.focus();
        }
      },
    },
    h('h1', {}, lockedUser ? t('locked') : t('app')),
    h('label', {}, t('username'), user),
    h('label', {}, t('password'), pass),
    h('label', {}, t('totp'), totp),
    h('button', { type: 'submit', id: 'login-submit', class: 'primary' }, lockedUser ? t('unlock') : t('login')),
    err,
    h('button', { type: 'button', class: 'link', onclick: () => { setLang(getLang() === 'ja' ? 'en' : 'ja'); render(); } }, t('language')),
  );
  setTimeout(() => (lockedUser ? pass : user).focus(), 0);
  return form;
}

function showLogin(): void {
  unmount?.();
  unmount = null;
  stream?.stop();
  stream = null;
  store.clear();
  ctx = null;
  clear(app, h('div', { class: 'login-page' }, loginForm((tok) => { setToken(tok); void start(); })));
}

async function start(): Promise<void> {
  try {
    const [session, codes] = await Promise.all([
      get<Session>('/auth/session'),
      get<{ incident_types: { types?: IncidentType[] } | IncidentType[]; dispositions: { dispositions?: Disposition[] } | Disposition[] }>('/incident-types'),
    ]);
    const types = Array.isArray(codes.incident_types) ? codes.incident_types : codes.incident_types.types ?? [];
    const dispositions = Array.isArray(codes.dispositions) ? codes.dispositions : codes.dispositions.dispositions ?? [];
    ctx = { session, types, dispositions, roles: new Set(session.user.roles) };
    if (!username) username = session.user.username;
  } catch (e) {
    setToken(null);
    showLogin();
    if (e instanceof ApiError && e.status !== 401) toast(`${t('error')}: ${e.message}`, 'error');
    return;
  }
  stream = new EventStream(
    () => ctx?.roles.has('field_officer') || location.hash.startsWith('#/dispatch'),
    () => logout(false),
  );
  stream.start();
  void store.refresh({ assignments: true }).catch(() => undefined);
  render();
}

async function logout(callApi = true): Promise<void> {
  if (callApi) await post('/auth/logout').catch(() => undefined);
  setToken(null);
  showLogin();
}

function lock(): void {
  if (!ctx || document.getElementById('lock')) return;
  const overlay = h(
    'div',
    { id: 'lock', class: 'lock' },
    loginForm((tok) => {
      const old = getToken();
      setToken(tok);
      overlay.remove();
      if (old && old !== tok) {
        // End the locked session; the stream resumes on the new one.
        void fetch('/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${old}` } }).catch(() => undefined);
        stream?.stop();
        stream?.start();
      }
    }, username),
  );
  document.body.appendChild(overlay);
}

// Idle lock: after koban.idleLockMs (default 10 minutes) without input.
let lastInput = Date.now();
for (const ev of ['keydown', 'pointerdown', 'pointermove', 'wheel']) {
  window.addEventListener(ev, () => (lastInput = Date.now()), { passive: true, capture: true });
}
setInterval(() => {
  const idleMs = Number(localStorage.getItem('koban.idleLockMs') ?? 600_000);
  if (ctx && Date.now() - lastInput > idleMs) lock();
}, 1000);

window.addEventListener('koban:unauthenticated', () => {
  if (ctx) {
    toast(t('locked'), 'error');
    void logout(false);
  }
});

function emergencyBanner(): HTMLElement {
  const el = h('div', { id: 'emergency-banner', class: 'emergency-banner', role: 'alert', hidden: true });
  const update = () => {
    const open = store.emergencies.filter((e) => !(e as { acked?: boolean }).acked);
    el.hidden = open.length === 0;
    clear(
      el,
      open.map((e) =>
        h(
          'div',
          { class: 'emergency-item' },
          `${t('emergency_alert')} ${e.unit_id} — ${new Date(e.at).toLocaleTimeString('ja-JP', { hour12: false })}`,
          h('button', { onclick: () => { (e as { acked?: boolean }).acked = true; update(); } }, t('acknowledge')),
        ),
      ),
    );
  };
  store.on((k) => { if (k === 'emergency') update(); });
  return el;
}

function render(): void {
  if (!ctx) return showLogin();
  const c = ctx;
  const allowed = screens.filter((s) => s.roles.some((r) => c.roles.has(r)));
  let current = allowed.find((s) => `#/${s.id}` === location.hash) ?? allowed[0];
  if (current && location.hash !== `#/${current.id}`) history.replaceState(null, '', `#/${current.id}`);
  unmount?.();
  unmount = null;
  const status = h('span', { id: 'stream-state', class: 'stream' });
  const updateStatus = () => {
    const s = stream?.state ?? 'offline';
    status.className = `stream ${s}`;
    status.textContent = s === 'live' ? t('live') : s === 'polling' ? t('polling') : t('offline');
  };
  const main = h('main', { id: 'screen' });
  const header = h(
    'header',
    { class: 'topbar' },
    h('span', { class: 'brand' }, 'koban'),
    h(
      'nav',
      {},
      allowed.map((s) => h('a', { href: `#/${s.id}`, class: s === current ? 'active' : '', id: `nav-${s.id}` }, t(s.label))),
    ),
    h('span', { class: 'spacer' }),
    status,
    h('span', { class: 'who' }, `${c.session.user.display_name} (${c.session.user.username})`),
    h('button', { id: 'lang-toggle', onclick: () => { setLang(getLang() === 'ja' ? 'en' : 'ja'); render(); } }, t('language')),
    h('button', { id: 'lock-button', onclick: lock }, t('lock')),
    h('button', { id: 'logout-button', onclick: () => void logout() }, t('logout')),
  );
  clear(app, header, emergencyBanner(), main);
  updateStatus();
  const off = store.on((k) => { if (k === 'stream') updateStatus(); });
  if (!current) {
    clear(main, h('p', { class: 'empty' }, t('no_permission')));
    unmount = off;
    return;
  }
  const un = current.mount(main, c);
  unmount = () => { off(); un(); };
}

window.addEventListener('hashchange', () => render());
if (getToken()) void start();
else showLogin();
