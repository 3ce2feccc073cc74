// The built-in admin panel in headless Chromium, driven as an administrator would, with every
// outcome checked against the server's own APIs (not only what the page shows).
//
// node panel.mjs BASE_URL SCREENSHOT_DIR — the server must have registration mode "token",
// an admin root/pw-root-1 and a regular user carol/pw-carol-1 (server/tests/it/admin_panel.rs).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, shots] = process.argv.slice(2);
if (!base || !shots) throw new Error('usage: node panel.mjs BASE_URL SCREENSHOT_DIR');
mkdirSync(shots, { recursive: true });
const panel = `${base}/_citadel/admin/`;

let stepName = "";
const started = Date.now();
function step(name) {
  stepName = name;
  console.log(`step ${((Date.now() - started) / 1000).toFixed(1)}s: ${name}`);
}
function check(condition, message) {
  if (!condition) throw new Error(`${stepName}: ${message}`);
}

// --- The server, over its APIs -------------------------------------------------------------

async function call(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

async function login(user, password) {
  return call('POST', '/_matrix/client/v3/login', {
    body: { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password },
  });
}

async function loginToken(user, password) {
  const r = await login(user, password);
  check(r.status === 200, `login as ${user}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const e = encodeURIComponent;

async function until(what, probe, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${stepName}: gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// --- The browser ---------------------------------------------------------------------------

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
page.on('console', (msg) => {
  // A failed request the panel shows to the admin is expected; a CSP violation is not.
  if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
});

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}
async function go(hash) {
  await page.goto(`${panel}#/${hash}`);
}
const dialog = () => page.locator('dialog[open]');
async function confirmDialog() {
  await dialog().locator('button[type=submit]').click();
}
async function dialogError() {
  const box = dialog().locator('.error');
  await box.waitFor();
  return box.innerText();
}
async function signInAs(user, password) {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

try {
  const admin = await loginToken('root', 'pw-root-1');
  const A = admin.access_token;

  step('the page is served with a strict CSP and cacheable hashed assets');
  const index = await fetch(panel);
  const csp = index.headers.get('content-security-policy') || '';
  check(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'") && !csp.includes('unsafe-inline'), `CSP: ${csp}`);
  check(index.headers.get('x-content-type-options') === 'nosniff', 'nosniff missing');
  check(index.headers.get('cache-control') === 'no-cache', `index cache-control ${index.headers.get('cache-control')}`);
  const html = await index.text();
  const asset = html.match(/src="([^"]+\/js\/main\.js)"/);
  check(asset && /\/assets\/[0-9a-f]{16}\//.test(asset[1]), 'the script is not under a hashed directory');
  const script = await fetch(new URL(asset[1], base));
  check(script.status === 200 && /immutable/.test(script.headers.get('cache-control')), 'assets are not immutable');
  check(script.headers.get('content-type').startsWith('text/javascript'), 'wrong script type');
  check(!/<script>/.test(html) && !/ style=/.test(html), 'inline script or style in the page');
  const stale = await fetch(asset[1].replace(/assets\/[0-9a-f]{16}/, 'assets/0000000000000000').replace(/^/, base));
  check(stale.status === 404, 'an old hash still serves files');

  step('a wrong password shows the server\'s error');
  await page.goto(panel);
  await shot('sign-in');
  await signInAs('root', 'wrong-password');
  const loginError = await page.locator('.error').innerText();
  check(loginError.includes('M_FORBIDDEN'), `login error: ${loginError}`);

  step('an admin signs in and sees the dashboard numbers the server reports');
  await signInAs('root', 'pw-root-1');
  await page.locator('[data-stat="rooms.total"]').waitFor();
  const summary = (await call('GET', '/_citadel/admin/v1/summary', { token: A })).body;
  const stat = (key) => page.locator(`[data-stat="${key}"]`).innerText();
  for (const [key, value] of [
    ['users.active', summary.users.active],
    ['users.active_today', summary.users.active_today],
    ['users.active_month', summary.users.active_month],
    ['rooms.total', summary.rooms.total],
    ['events.today', summary.events.today],
  ]) {
    const shown = await stat(key);
    check(shown === value.toLocaleString('en-US'), `${key}: page shows ${shown}, server says ${value}`);
  }
  check(await page.locator('[data-chart]').count() === 4, 'four metric charts');
  check(await page.locator('text=Recent audit entries').count() === 1, 'recent audit section');
  await shot('dashboard');

  step('creating a user with an empty name shows the server\'s error and creates nothing');
  const usersBefore = (await call('GET', '/_synapse/admin/v2/users?limit=1', { token: A })).body.total;
  await go('users');
  await page.locator('table[aria-label="Users"] tbody tr').first().waitFor();
  await shot('users');
  await page.getByRole('button', { name: 'Create user' }).click();
  await dialog().getByLabel('Password').fill('pw-bob-panel-1');
  await confirmDialog();
  const emptyError = await dialogError();
  check(/M_INVALID_USERNAME|M_INVALID_PARAM/.test(emptyError), `empty name: ${emptyError}`);

  step('a duplicate user name shows the server\'s error');
  await dialog().getByLabel('User name').fill('carol');
  await confirmDialog();
  await until('the duplicate error', async () => /M_USER_IN_USE/.test(await dialogError()));
  check((await call('GET', '/_synapse/admin/v2/users?limit=1', { token: A })).body.total === usersBefore, 'a user was created');
  check((await login('carol', 'pw-carol-1')).status === 200, 'carol\'s password changed');

  step('an admin creates a user, who can then sign in');
  await dialog().getByLabel('User name').fill('bob');
  await confirmDialog();
  await dialog().waitFor({ state: 'detached' });
  await page.locator('tr[data-key="@bob:localhost"]').waitFor();
  check((await login('bob', 'pw-bob-panel-1')).status === 200, 'bob cannot sign in');

  step('locking a user makes their login fail with M_USER_LOCKED');
  await page.locator('tr[data-key="@bob:localhost"] a').click();
  await page.getByRole('heading', { name: '@bob:localhost' }).waitFor();
  await page.getByRole('button', { name: 'Lock', exact: true }).click();
  await confirmDialog();
  await page.getByRole('button', { name: 'Unlock', exact: true }).waitFor();
  const locked = await login('bob', 'pw-bob-panel-1');
  check(locked.status === 401 && locked.body.errcode === 'M_USER_LOCKED', `locked login: ${locked.status} ${JSON.stringify(locked.body)}`);
  await shot('user-detail');
  await page.getByRole('button', { name: 'Unlock', exact: true }).click();
  await confirmDialog();
  await page.getByRole('button', { name: 'Lock', exact: true }).waitFor();

  step('deactivating a user makes their login fail with M_USER_DEACTIVATED');
  await page.getByRole('button', { name: 'Deactivate' }).click();
  await dialog().getByLabel(/Also erase/).check();
  await confirmDialog();
  await page.getByRole('button', { name: 'Reactivate' }).waitFor();
  const gone = await login('bob', 'pw-bob-panel-1');
  check(gone.status === 403 && gone.body.errcode === 'M_USER_DEACTIVATED', `deactivated login: ${gone.status} ${JSON.stringify(gone.body)}`);
  const bob = (await call('GET', `/_synapse/admin/v2/users/${e('@bob:localhost')}`, { token: A })).body;
  check(bob.deactivated === true && bob.erased === true, 'bob is not deactivated and erased');

  step('deleting a room shows progress to completion');
  const carol = await loginToken('carol', 'pw-carol-1');
  const room = await call('POST', '/_matrix/client/v3/createRoom', { token: A, body: { name: 'Doomed room', preset: 'public_chat' } });
  check(room.status === 200, `createRoom ${room.status}`);
  const roomId = room.body.room_id;
  check((await call('POST', `/_matrix/client/v3/join/${e(roomId)}`, { token: carol.access_token, body: {} })).status === 200, 'carol joins');
  await go('rooms');
  await page.getByRole('searchbox').fill('Doomed');
  await page.locator(`tr[data-key="${roomId}"]`).waitFor();
  await shot('rooms');
  await page.locator(`tr[data-key="${roomId}"] a`).click();
  await page.getByRole('heading', { name: 'Doomed room' }).waitFor();
  await page.locator('text=Power levels').waitFor();
  await shot('room-detail');
  await page.getByRole('button', { name: 'Delete room' }).click();
  await confirmDialog();
  const progress = page.locator('dialog[open] progress');
  await progress.waitFor();
  await until('the delete to complete', async () => (await progress.getAttribute('value')) === '100' ||
    Number(await progress.evaluate((p) => p.value)) === 100);
  const outcome = await dialog().locator('[role=status]').innerText();
  check(/Deleted/.test(outcome), `delete outcome: ${outcome}`);
  await shot('room-deleted');
  await dialog().getByRole('button', { name: 'Close' }).click();
  const after = await call('GET', `/_synapse/admin/v1/rooms/${e(roomId)}`, { token: A });
  check(after.status === 404, `the room still exists: ${after.status}`);
  const carolRooms = await call('GET', '/_matrix/client/v3/joined_rooms', { token: carol.access_token });
  check(!carolRooms.body.joined_rooms.includes(roomId), 'carol is still in the room');

  step('a registration token with an expiry in the past is refused by the server');
  const tokensBefore = (await call('GET', '/_synapse/admin/v1/registration_tokens', { token: A })).body.registration_tokens.length;
  await go('tokens');
  await page.getByRole('button', { name: 'Create token' }).click();
  await dialog().getByLabel(/^Token/).fill('panel-token-1');
  await dialog().getByLabel(/Uses allowed/).fill('1');
  await dialog().getByLabel(/Expires/).fill('2001-01-01T10:00');
  await confirmDialog();
  const expiryError = await dialogError();
  check(/M_INVALID_PARAM/.test(expiryError), `past expiry: ${expiryError}`);
  check((await call('GET', '/_synapse/admin/v1/registration_tokens', { token: A })).body.registration_tokens.length === tokensBefore, 'a token was created');

  step('a registration token lets someone register');
  await dialog().getByLabel(/Expires/).fill('');
  await confirmDialog();
  await dialog().waitFor({ state: 'detached' });
  await page.locator('tr[data-key="panel-token-1"]').waitFor();
  await shot('tokens');
  const first = await call('POST', '/_matrix/client/v3/register', { body: { username: 'dave', password: 'pw-dave-123' } });
  check(first.status === 401 && first.body.session, `register start: ${first.status}`);
  const registered = await call('POST', '/_matrix/client/v3/register', {
    body: { username: 'dave', password: 'pw-dave-123', auth: { type: 'm.login.registration_token', token: 'panel-token-1', session: first.body.session } },
  });
  check(registered.status === 200 && registered.body.user_id === '@dave:localhost', `register: ${registered.status} ${JSON.stringify(registered.body)}`);
  await page.reload();
  await page.locator('tr[data-key="panel-token-1"]').getByText('used up').waitFor();

  step('a server notice arrives in the user\'s sync');
  await go('notices');
  await page.getByLabel('To').fill('@carol:localhost');
  await page.getByLabel('Message').fill('Maintenance tonight at 22:00');
  await page.getByRole('button', { name: 'Send notice' }).click();
  await page.locator('.success').waitFor();
  await shot('notices');
  const invited = await until('the notice room invite', async () => {
    const sync = await call('GET', '/_matrix/client/v3/sync?timeout=0', { token: carol.access_token });
    const rooms = Object.keys((sync.body.rooms || {}).invite || {});
    return rooms[0];
  });
  check((await call('POST', `/_matrix/client/v3/join/${e(invited)}`, { token: carol.access_token, body: {} })).status === 200, 'carol joins the notice room');
  await until('the notice in carol\'s sync', async () => {
    const sync = await call('GET', '/_matrix/client/v3/sync?timeout=0', { token: carol.access_token });
    const joined = ((sync.body.rooms || {}).join || {})[invited];
    return joined && joined.timeline.events.some((ev) => ev.content && ev.content.body === 'Maintenance tonight at 22:00');
  });

  step('every action is in the audit trail, and the trail verifies');
  await go('audit');
  await page.getByLabel('Who').fill('@root:localhost');
  await page.getByRole('button', { name: 'Filter' }).click();
  for (const action of ['admin.user.create', 'admin.user.lock', 'admin.user.deactivate', 'admin.room.delete',
    'admin.registration_token.create', 'admin.server_notice.send']) {
    await page.locator(`table[aria-label="Audit entries"] tr[data-action="${action}"]`).first().waitFor({ timeout: 5000 })
      .catch(() => { throw new Error(`${stepName}: no ${action} entry on the page`); });
  }
  await page.getByRole('button', { name: 'Verify the trail' }).click();
  await page.locator('[data-verify="intact"]').waitFor();
  await page.locator('table[aria-label="Audit entries"] tr[data-action="admin.room.delete"]').first().click();
  await dialog().getByText('Leaf hash').waitFor();
  await shot('audit-entry');
  await dialog().getByRole('button', { name: 'Close' }).click();
  await shot('audit');

  step('the other pages render');
  for (const name of ['media', 'reports', 'federation']) {
    await go(name);
    await page.locator('main h1').waitFor();
    // Every section and table has answered.
    await page.waitForFunction(() => !document.querySelector('main .spinner') &&
      ![...document.querySelectorAll('main .pager span')].some((s) => s.textContent === 'Loading…'));
    const errors = await page.locator('main .error').allInnerTexts();
    check(errors.length === 0, `${name} shows an error: ${errors.join('; ')}`);
    await shot(name);
  }

  step('the panel works on a phone and in the dark theme');
  await page.setViewportSize({ width: 390, height: 844 });
  await go('dashboard');
  await page.locator('[data-stat="rooms.total"]').waitFor();
  await shot('phone-dashboard');
  await page.getByRole('button', { name: 'Menu' }).click();
  await page.getByRole('button', { name: 'Light/dark' }).click();
  await shot('phone-dark-menu');
  await page.setViewportSize({ width: 1280, height: 900 });

  step('an ended session shows the expired-session screen');
  const devices = (await call('GET', `/_synapse/admin/v2/users/${e('@root:localhost')}/devices`, { token: A })).body.devices;
  const others = devices.map((d) => d.device_id).filter((d) => d !== admin.device_id);
  check((await call('POST', `/_synapse/admin/v2/users/${e('@root:localhost')}/delete_devices`, { token: A, body: { devices: others } })).status === 200, 'delete devices');
  await page.getByRole('link', { name: 'Users' }).click();
  await page.getByText('Your session has ended').waitFor();
  await shot('session-ended');

  step('a non-admin is refused');
  await signInAs('carol', 'pw-carol-1');
  await page.getByRole('heading', { name: 'Not an administrator' }).waitFor();
  check(await page.locator('nav.sidebar').count() === 0, 'the panel\'s pages are shown to a non-admin');
  await shot('not-admin');

  const carolSessions = (await call('GET', `/_synapse/admin/v2/users/${e('@carol:localhost')}/devices`, { token: A })).body.devices;
  check(!carolSessions.some((d) => d.display_name === 'Citadel admin panel'), 'the refused session was left signed in');

  step('signing out ends the session on the server');
  await page.getByRole('button', { name: 'Sign in as someone else' }).click();
  await signInAs('root', 'pw-root-1');
  await page.getByText('Signed in as').waitFor();
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('citadel.admin.session')).access_token);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You have signed out.').waitFor();
  const whoami = await call('GET', '/_matrix/client/v3/account/whoami', { token });
  check(whoami.status === 401, `the token still works after sign-out: ${whoami.status}`);

  check(problems.length === 0, `the browser reported problems:\n${problems.join('\n')}`);
  console.log('admin panel scenario passed');
} catch (err) {
  await shot('failure').catch(() => {});
  console.error(err.stack || String(err));
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}
