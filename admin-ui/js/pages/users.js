// Users: the paged list with filters, and creating an account.

import { api, opt, seg, server } from '../api.js';
import { h, fill, badge, ago, when, dialog, field, input, checkbox, toast } from '../dom.js';
import { pagedTable } from '../table.js';

const FILTERS = [
  ['', 'Active accounts'],
  ['admins', 'Administrators'],
  ['locked', 'Locked'],
  ['suspended', 'Suspended'],
  ['shadow_banned', 'Shadow-banned'],
  ['deactivated', 'Deactivated'],
];

/** The badges that say what state an account is in. */
export function userBadges(u) {
  return [
    u.admin ? badge('admin', 'ok') : null,
    u.deactivated ? badge(u.erased ? 'deactivated, erased' : 'deactivated', 'bad') : null,
    u.locked ? badge('locked', 'bad') : null,
    u.suspended ? badge('suspended', 'warn') : null,
    u.shadow_banned ? badge('shadow-banned', 'warn') : null,
  ];
}

async function load({ from, limit, orderBy, dir, search, filter }) {
  const query = { from, limit, order_by: orderBy, dir, name: opt(search) };
  let path = '/_synapse/admin/v2/users';
  if (filter === 'admins') query.admins = 'true';
  else if (filter === 'deactivated') {
    path = '/_synapse/admin/v3/users';
    query.deactivated = 'true';
  } else if (filter) query.only = filter;
  const page = await api('GET', path, { query });
  return { rows: page.users, total: page.total };
}

/** Creates an account: the server first says whether the name is free and valid. */
export function createUser(onCreated) {
  return dialog({
    title: 'Create a user',
    confirm: 'Create',
    body: [
      field('User name (the part before the colon)', input('username', { required: false })),
      field('Password', input('password', { type: 'password', autocomplete: 'new-password' })),
      field('Display name (optional)', input('displayname')),
      field('Administrator', checkbox('admin')),
    ],
    submit: async (form) => {
      const username = form.elements.username.value.trim();
      await api('GET', '/_synapse/admin/v1/username_available', { query: { username } });
      const userId = `@${username.toLowerCase()}:${server.server_name}`;
      const body = { password: form.elements.password.value, admin: form.elements.admin.checked };
      if (form.elements.displayname.value.trim()) body.displayname = form.elements.displayname.value.trim();
      await api('PUT', `/_synapse/admin/v2/users/${seg(userId)}`, { body });
      toast(`Created ${userId}`);
      onCreated(userId);
      return userId;
    },
  });
}

export async function render(main) {
  const table = pagedTable([
    { key: 'name', label: 'User', sort: 'name', render: (u) => h('a', { href: `#/users/${seg(u.name)}` }, u.name) },
    { key: 'displayname', label: 'Display name', sort: 'displayname' },
    { key: 'state', label: 'State', render: (u) => userBadges(u) },
    { key: 'creation_ts', label: 'Created', sort: 'creation_ts', render: (u) => when(u.creation_ts) },
    { key: 'last_seen_ts', label: 'Last seen', sort: 'last_seen_ts', render: (u) => ago(u.last_seen_ts) },
  ], load, {
    label: 'Users',
    search: 'Search by name',
    orderBy: 'name',
    filters: FILTERS,
    rowKey: (u) => u.name,
    onRow: (u) => { location.hash = `#/users/${seg(u.name)}`; },
    extra: h('button.primary', {
      type: 'button',
      onclick: () => createUser(() => table.reload()),
    }, 'Create user'),
  });
  fill(main, h('h1', 'Users'), table.element);
}
