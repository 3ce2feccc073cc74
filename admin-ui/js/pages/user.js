// One user: profile and state, devices and sessions, rooms, media, pushers, cross-signing,
// and every account action (each destructive one behind a confirmation).

import { api, seg } from '../api.js';
import {
  h, fill, props, badge, when, ago, bytes, num, yesNo, dialog, confirmAction, field, input,
  checkbox, toast, errorBox,
} from '../dom.js';
import { userBadges } from './users.js';

/** A section that loads on its own, so one failing request does not blank the page. */
function section(title, loader) {
  const body = h('div', h('p.spinner', 'Loading…'));
  loader().then((content) => fill(body, content)).catch((err) => fill(body, errorBox(err)));
  return h('section.card', h('h2', title), body);
}

function simpleTable(label, headers, rows) {
  if (!rows.length) return h('p.muted', 'None.');
  return h('div.table-wrap', h('table', { 'aria-label': label },
    h('thead', h('tr', headers.map((x) => h('th', x)))),
    h('tbody', rows.map((cells) => h('tr', cells.map((c) => h('td', c)))))));
}

function actions(userId, u, reload) {
  const path = `/_synapse/admin/v2/users/${seg(userId)}`;
  const done = (message) => { toast(message); reload(); };
  const buttons = [];
  const add = (label, handler, danger = false) =>
    buttons.push(h(`button${danger ? '.danger' : ''}`, { type: 'button', onclick: handler }, label));

  add('Reset password', () => dialog({
    title: `Reset the password of ${userId}`,
    confirm: 'Reset password',
    body: [
      field('New password', input('password', { type: 'password', autocomplete: 'new-password' })),
      field('Sign out all their devices', checkbox('logout', true)),
    ],
    submit: async (form) => {
      await api('POST', `/_synapse/admin/v1/reset_password/${seg(userId)}`, {
        body: { new_password: form.elements.password.value, logout_devices: form.elements.logout.checked },
      });
      done('Password reset');
    },
  }));
  add(u.admin ? 'Remove admin' : 'Make admin', () => confirmAction(
    u.admin ? 'Remove administrator rights' : 'Make administrator',
    u.admin ? `${userId} will no longer administer this server.` : `${userId} will be able to administer the whole server, including this panel.`,
    async () => {
      await api('PUT', `/_synapse/admin/v1/users/${seg(userId)}/admin`, { body: { admin: !u.admin } });
      done(u.admin ? 'No longer an administrator' : 'Now an administrator');
    }));
  add(u.locked ? 'Unlock' : 'Lock', () => confirmAction(
    u.locked ? 'Unlock the account' : 'Lock the account',
    u.locked ? `${userId} will be able to sign in and use the account again.` : `${userId} is signed out of every client at their next request and cannot sign in until unlocked.`,
    async () => {
      await api('PUT', `/_matrix/client/v1/admin/lock/${seg(userId)}`, { body: { locked: !u.locked } });
      done(u.locked ? 'Unlocked' : 'Locked');
    }));
  add(u.suspended ? 'Unsuspend' : 'Suspend', () => confirmAction(
    u.suspended ? 'Lift the suspension' : 'Suspend the account',
    u.suspended ? `${userId} may send messages again.` : `${userId} can still read, but cannot send, join or change anything.`,
    async () => {
      await api('PUT', `/_synapse/admin/v1/suspend/${seg(userId)}`, { body: { suspend: !u.suspended } });
      done(u.suspended ? 'Suspension lifted' : 'Suspended');
    }));
  add(u.shadow_banned ? 'Lift shadow-ban' : 'Shadow-ban', () => confirmAction(
    u.shadow_banned ? 'Lift the shadow-ban' : 'Shadow-ban the account',
    u.shadow_banned ? `What ${userId} sends reaches others again.` : `What ${userId} sends seems to work for them but reaches no one.`,
    async () => {
      await api(u.shadow_banned ? 'DELETE' : 'POST', `/_synapse/admin/v1/users/${seg(userId)}/shadow_ban`);
      done(u.shadow_banned ? 'Shadow-ban lifted' : 'Shadow-banned');
    }));
  add('Sign out all devices', () => confirmAction('Sign out every device',
    `Every session of ${userId} ends now; their clients must sign in again.`,
    async () => {
      const { devices } = await api('GET', `${path}/devices`);
      await api('POST', `${path}/delete_devices`, { body: { devices: devices.map((d) => d.device_id) } });
      done(`Signed out ${devices.length} devices`);
    }));
  add('Impersonation token', () => dialog({
    title: `Sign in as ${userId}`,
    confirm: 'Create token',
    danger: true,
    body: [h('div.notice', 'This creates an access token that acts as this user on every room and message they can reach. It is recorded in the audit trail. Use it only to investigate, and never share it.')],
    submit: async () => {
      const login = await api('POST', `/_synapse/admin/v1/users/${seg(userId)}/login`, { body: {} });
      await dialog({ title: 'Access token', confirm: 'Done', body: [h('p', 'Copy it now; it is not shown again.'), h('code.token', login.access_token)] });
    },
  }));
  if (u.deactivated) {
    add('Reactivate', () => dialog({
      title: `Reactivate ${userId}`,
      confirm: 'Reactivate',
      body: [field('New password', input('password', { type: 'password', autocomplete: 'new-password' }))],
      submit: async (form) => {
        await api('PUT', path, { body: { deactivated: false, password: form.elements.password.value } });
        done('Reactivated');
      },
    }));
  } else {
    add('Deactivate', () => dialog({
      title: `Deactivate ${userId}`,
      confirm: 'Deactivate',
      danger: true,
      body: [
        h('p', 'The account is signed out everywhere, leaves every room, and can no longer sign in. This cannot be undone by the user.'),
        field('Also erase: hide their messages from people who join later, and remove their profile', checkbox('erase')),
      ],
      submit: async (form) => {
        await api('POST', `/_synapse/admin/v1/deactivate/${seg(userId)}`, { body: { erase: form.elements.erase.checked } });
        done('Deactivated');
      },
    }), true);
  }
  return h('div.actions', { role: 'group', 'aria-label': 'Account actions' }, buttons);
}

async function crossSigning(userId) {
  const keys = await api('POST', '/_matrix/client/v3/keys/query', { body: { device_keys: { [userId]: [] } } });
  const has = (kind) => !!(keys[kind] && keys[kind][userId]);
  return props([
    ['Master key', yesNo(has('master_keys'))],
    ['Self-signing key', yesNo(has('self_signing_keys'))],
    ['User-signing key', yesNo(has('user_signing_keys'))],
    ['Devices with keys', num(Object.keys((keys.device_keys || {})[userId] || {}).length)],
  ]);
}

export async function render(main, { id: userId }) {
  const reload = () => render(main, { id: userId });
  const u = await api('GET', `/_synapse/admin/v2/users/${seg(userId)}`);
  fill(main,
    h('p', h('a', { href: '#/users' }, '← Users')),
    h('h1', userId),
    actions(userId, u, reload),
    h('section.card', h('h2', 'Profile'), props([
      ['Display name', u.displayname || '—'],
      ['State', userBadges(u).filter(Boolean).length ? userBadges(u) : badge('active', 'ok')],
      ['Created', when(u.creation_ts * 1000)],
      ['Last seen', ago(u.last_seen_ts)],
      ['User type', u.user_type || 'regular'],
      ['Email and phone', (u.threepids || []).map((t) => `${t.medium}: ${t.address}`).join(', ') || 'none'],
    ])),
    h('div.grid2',
      section('Devices', async () => {
        const { devices } = await api('GET', `/_synapse/admin/v2/users/${seg(userId)}/devices`);
        return simpleTable('Devices', ['Device', 'Name', 'Last seen', 'IP'], devices.map((d) => [
          h('code', d.device_id), d.display_name || '—', ago(d.last_seen_ts), d.last_seen_ip || '—']));
      }),
      section('Sessions', async () => {
        const whois = await api('GET', `/_synapse/admin/v1/whois/${seg(userId)}`);
        const rows = [];
        for (const [device, info] of Object.entries(whois.devices || {})) {
          for (const s of info.sessions || []) {
            for (const c of s.connections || []) rows.push([h('code', device), c.ip, when(c.last_seen)]);
          }
        }
        return simpleTable('Sessions', ['Device', 'IP', 'Last request'], rows);
      }),
      section('Joined rooms', async () => {
        const { joined_rooms: rooms } = await api('GET', `/_synapse/admin/v1/users/${seg(userId)}/joined_rooms`);
        return simpleTable('Joined rooms', ['Room'], rooms.map((r) => [h('a', { href: `#/rooms/${seg(r)}` }, r)]));
      }),
      section('Cross-signing', () => crossSigning(userId)),
      section('Media', async () => {
        const page = await api('GET', `/_synapse/admin/v1/users/${seg(userId)}/media`, { query: { limit: 10, order_by: 'created_ts', dir: 'b' } });
        return [simpleTable('Media', ['Media', 'Type', 'Size', 'Uploaded'], page.media.map((m) => [
          h('code', m.media_id), m.media_type || '—', bytes(m.media_length), when(m.created_ts)])),
        h('p.muted', `${num(page.total)} in all. `, h('a', { href: `#/media?user=${seg(userId)}` }, 'Manage their media →'))];
      }),
      section('Pushers', async () => {
        const { pushers } = await api('GET', `/_synapse/admin/v1/users/${seg(userId)}/pushers`);
        return simpleTable('Pushers', ['App', 'Kind', 'Device'], pushers.map((p) => [
          p.app_display_name || p.app_id, p.kind, p.device_display_name || '—']));
      })));
}
