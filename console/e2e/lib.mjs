// Helpers for the console's end-to-end tests: TOTP, API calls, browser launch.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.KOBAN_URL ?? 'http://127.0.0.1:8110';
export const ARTIFACTS = process.env.KOBAN_ARTIFACTS ?? fs.mkdtempSync('/tmp/koban-e2e-');
fs.mkdirSync(ARTIFACTS, { recursive: true });

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
}

function base32(s) {
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let val = 0;
  const out = [];
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const i = a.indexOf(c);
    if (i < 0) continue;
    val = ((val << 5) | i) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((val >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238: HMAC-SHA1, 30 s steps, 6 digits (what koban uses). */
export function totp(secret, ms = Date.now()) {
  const step = Math.floor(ms / 30000);
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(step));
  const hm = crypto.createHmac('sha1', base32(secret)).update(b).digest();
  const o = hm[19] & 15;
  return { code: String((hm.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0'), step };
}

// Codes used, shared by the scripts of one run (each code works once per account).
const usedFile = path.join(ARTIFACTS, '.totp-used.json');
/** A fresh code: each code works once per account, so wait for the next step if needed. */
export async function freshCode(user) {
  for (;;) {
    const { code, step } = totp(user.secret);
    let used = {};
    try {
      used = JSON.parse(fs.readFileSync(usedFile, 'utf8'));
    } catch {
      used = {};
    }
    if (used[user.username] !== step) {
      used[user.username] = step;
      fs.writeFileSync(usedFile, JSON.stringify(used));
      return code;
    }
    await new Promise((r) => setTimeout(r, 30000 - (Date.now() % 30000) + 50));
  }
}

/** Accounts: the demo's credentials file plus extra users given as JSON. */
export function loadUsers() {
  const users = {};
  const file = path.join(process.env.KOBAN_DATA, 'demo-credentials.txt');
  for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
    const [username, password, secret] = line.trim().split(/\s+/);
    if (username && secret) users[username] = { username, password, secret };
  }
  for (const u of JSON.parse(process.env.KOBAN_E2E_USERS ?? '[]')) users[u.username] = u;
  return users;
}

export async function api(token, method, p, body) {
  const r = await fetch(`${BASE}/api/v1${p}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
  return data;
}

export async function apiLogin(user) {
  const r = await api(null, 'POST', '/auth/login', { username: user.username, password: user.password, totp_code: await freshCode(user) });
  return r.token;
}

/** Logs on through the console's form. */
export async function uiLogin(page, user, hash) {
  await page.goto(`${BASE}/${hash ?? ''}`);
  await page.fill('#login-username', user.username);
  await page.fill('#login-password', user.password);
  await page.fill('#login-totp', await freshCode(user));
  await page.click('#login-submit');
  await page.waitForSelector('#screen');
  if (hash) {
    await page.evaluate((h) => { if (location.hash !== h) location.hash = h; }, hash);
  }
}

export async function shot(page, name) {
  const p = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: p });
  console.log(`screenshot: ${p}`);
}

export function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

export function watchErrors(page, name, errors) {
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/WebSocket|Failed to load resource/.test(m.text())) errors.push(`${name}: ${m.text()}`);
  });
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Registers units at Tokyo stations and reports their positions. */
export async function registerUnits(token, prefix, n, centre, spread) {
  const stations = ['st-13-marunouchi', 'st-13-kojimachi'];
  const units = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${String(i + 1).padStart(4, '0')}`;
    await api(token, 'POST', '/units', {
      id,
      kind: 'patrol_car',
      capabilities: i % 3 === 0 ? ['traffic'] : [],
      crew_count: 2,
      home_station_id: stations[i % stations.length],
      status: 'on_patrol',
    });
    const a = (i * 2.399963) % (2 * Math.PI);
    const r = spread * Math.sqrt((i + 0.5) / n);
    units.push({ id, lat: centre[0] + r * Math.sin(a), lon: centre[1] + r * Math.cos(a) * 1.2, dir: a });
  }
  await reportPositions(token, units);
  return units;
}

export async function reportPositions(token, units) {
  const at = new Date().toISOString();
  // 400 reports stay well inside the API's 64 KiB body limit.
  for (let i = 0; i < units.length; i += 400) {
    await api(token, 'POST', '/units/positions', {
      positions: units.slice(i, i + 400).map((u) => ({ unit_id: u.id, lat: u.lat, lon: u.lon, at })),
    });
  }
}
