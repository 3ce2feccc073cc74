// The panel's shell: sign-in, the "not an administrator" and "session ended" screens, the
// side bar, and a hash router (#/users/@alice:example.org) over the pages.

import { api, server, session, signIn, signOut, whenExpired } from './api.js';
import { h, fill, errorBox, field, input } from './dom.js';
import * as dashboard from './pages/dashboard.js';
import * as users from './pages/users.js';
import * as user from './pages/user.js';
import * as rooms from './pages/rooms.js';
import * as room from './pages/room.js';
import * as media from './pages/media.js';
import * as reports from './pages/reports.js';
import * as tokens from './pages/tokens.js';
import * as federation from './pages/federation.js';
import * as notices from './pages/notices.js';
import * as audit from './pages/audit.js';

const app = document.getElementById('app');
const assets = new URL('..', import.meta.url).pathname;

const PAGES = [
  ['dashboard', 'Dashboard', dashboard],
  ['users', 'Users', users],
  ['rooms', 'Rooms', rooms],
  ['media', 'Media', media],
  ['reports', 'Reports', reports],
  ['tokens', 'Registration tokens', tokens],
  ['federation', 'Federation', federation],
  ['notices', 'Server notices', notices],
  ['audit', 'Audit trail', audit],
];
// Detail pages: #/users/{id}, #/rooms/{id}.
const DETAILS = { users: user, rooms: room };

function brand() {
  return h('div.brand', h('img', { src: `${assets}favicon.svg`, alt: '' }), 'Citadel admin');
}

// --- Themes -----------------------------------------------------------------------------

function applyTheme() {
  const theme = localStorage.getItem('citadel.admin.theme');
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

function themeButton() {
  return h('button', {
    type: 'button',
    onclick: () => {
      const dark = document.documentElement.dataset.theme === 'dark' ||
        (!document.documentElement.dataset.theme && matchMedia('(prefers-color-scheme: dark)').matches);
      localStorage.setItem('citadel.admin.theme', dark ? 'light' : 'dark');
      applyTheme();
    },
  }, 'Light/dark');
}

// --- Screens without a session ------------------------------------------------------------

function signInScreen(message) {
  const error = h('div');
  const username = input('username', { autocomplete: 'username', required: true });
  const password = input('password', { type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button.primary', { type: 'submit' }, 'Sign in');
  const form = h('form.card', {
    'aria-label': 'Sign in',
    onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      fill(error);
      try {
        await signIn(username.value.trim(), password.value);
        await enter();
      } catch (err) {
        fill(error, errorBox(err));
        submit.disabled = false;
      }
    },
  },
  h('h1', 'Sign in'),
  message ? h('div.notice', { role: 'status' }, message) : null,
  h('p.muted', 'Sign in with an administrator account of this server.'),
  field('User name', username),
  field('Password', password),
  error,
  submit);
  fill(app, h('div.login', brand(), form));
  username.focus();
}

function notAdminScreen(userId) {
  fill(app, h('div.login', brand(), h('div.card', { role: 'alert' },
    h('h1', 'Not an administrator'),
    h('p', `${userId} is not an administrator of this server, so the admin panel is not available to this account.`),
    h('p.muted', 'You have been signed out of the panel.'),
    h('button.primary', { type: 'button', onclick: () => signInScreen() }, 'Sign in as someone else'))));
}

whenExpired(() => signInScreen('Your session has ended (signed out or expired). Sign in again to continue.'));

/** Checks the session belongs to an admin, then shows the panel. */
async function enter() {
  const current = session();
  try {
    const summary = await api('GET', '/_citadel/admin/v1/summary');
    server.server_name = summary.server_name;
  } catch (err) {
    if (err.status === 403) {
      await signOut();
      notAdminScreen(current.user_id);
      return;
    }
    if (err.status === 401) return; // whenExpired took over.
    fill(app, h('div.login', brand(), errorBox(err)));
    return;
  }
  if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/dashboard';
  route();
}

// --- The panel ------------------------------------------------------------------------------

let main;
let navLinks = [];

function layout() {
  const current = session();
  const sidebar = h('nav.sidebar', { 'aria-label': 'Pages' });
  navLinks = PAGES.map(([id, label]) => h('a', { href: `#/${id}`, dataset: { page: id } }, label));
  fill(sidebar,
    h('button.menu-toggle', {
      type: 'button',
      'aria-label': 'Menu',
      onclick: () => sidebar.classList.toggle('open'),
    }, '☰'),
    brand(),
    h('ul.nav', navLinks.map((a) => h('li', a))),
    h('div.who', 'Signed in as ', h('strong', current.user_id),
      h('div.button-row',
        h('button', {
          type: 'button',
          onclick: async () => { await signOut(); location.hash = ''; signInScreen('You have signed out.'); },
        }, 'Sign out'),
        themeButton())));
  main = h('main', { id: 'main', tabindex: '-1' });
  fill(app, h('a.skip', { href: '#main' }, 'Skip to content'), h('div.layout', sidebar, main));
}

function parseHash() {
  const [path, queryText] = location.hash.replace(/^#\/?/, '').split('?');
  const parts = path.split('/').map(decodeURIComponent);
  return { page: parts[0] || 'dashboard', id: parts.slice(1).join('/'), query: new URLSearchParams(queryText || '') };
}

async function route() {
  if (!session()) {
    signInScreen();
    return;
  }
  if (!main || !main.isConnected) layout();
  const { page, id, query } = parseHash();
  const entry = PAGES.find(([p]) => p === page);
  const module = id && DETAILS[page] ? DETAILS[page] : entry && entry[2];
  for (const a of navLinks) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.parentElement.querySelector('.sidebar').classList.remove('open');
  if (!module) {
    fill(main, h('h1', 'No such page'), h('p', h('a', { href: '#/dashboard' }, 'Go to the dashboard')));
    return;
  }
  fill(main, h('p.spinner', 'Loading…'));
  try {
    await module.render(main, { id, query });
  } catch (err) {
    if (err.status === 401) return;
    fill(main, h('h1', entry ? entry[1] : page), errorBox(err));
  }
  document.title = `${entry ? entry[1] : page} · Citadel admin`;
}

window.addEventListener('hashchange', () => { if (session()) route(); });
applyTheme();
if (session()) enter(); else signInScreen();
