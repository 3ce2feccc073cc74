// Media: who stores how much, one user's files (quarantine, protect, delete), a room's files,
// and deleting local media older than a date.

import { api, opt, seg, server } from '../api.js';
import {
  h, fill, bytes, num, when, badge, dialog, confirmAction, field, input, checkbox, toast, errorBox,
} from '../dom.js';
import { pagedTable } from '../table.js';

function userMedia(userId) {
  const table = pagedTable([
    { key: 'media_id', label: 'Media', render: (m) => [h('code', m.media_id), m.upload_name ? h('div.muted', m.upload_name) : null] },
    { key: 'media_type', label: 'Type', render: (m) => m.media_type || '—' },
    { key: 'media_length', label: 'Size', sort: 'media_length', num: true, render: (m) => bytes(m.media_length) },
    { key: 'created_ts', label: 'Uploaded', sort: 'created_ts', render: (m) => when(m.created_ts) },
    { key: 'last_access_ts', label: 'Last used', sort: 'last_access_ts', render: (m) => when(m.last_access_ts) },
    {
      key: 'state', label: 'State',
      render: (m) => [m.quarantined_by ? badge('quarantined', 'bad') : null, m.safe_from_quarantine ? badge('protected', 'ok') : null],
    },
    { key: 'actions', label: 'Actions', render: (m) => mediaActions(m, () => table.reload()) },
  ], async ({ from, limit, orderBy, dir }) => {
    const page = await api('GET', `/_synapse/admin/v1/users/${seg(userId)}/media`, {
      query: { from, limit, order_by: orderBy, dir },
    });
    return { rows: page.media, total: page.total };
  }, { label: `Media of ${userId}`, search: false, orderBy: 'created_ts', dir: 'b' });
  return table.element;
}

function mediaActions(m, reload) {
  const origin = server.server_name;
  const id = seg(m.media_id);
  const run = (title, text, method, path, message) => confirmAction(title, text, async () => {
    await api(method, path);
    toast(message);
    reload();
  });
  return h('div.button-row',
    m.quarantined_by
      ? h('button', { type: 'button', onclick: () => run('Release from quarantine', 'The file can be downloaded again.', 'POST', `/_synapse/admin/v1/media/unquarantine/${seg(origin)}/${id}`, 'Released') }, 'Unquarantine')
      : h('button', { type: 'button', onclick: () => run('Quarantine', 'Nobody can download the file until it is released.', 'POST', `/_synapse/admin/v1/media/quarantine/${seg(origin)}/${id}`, 'Quarantined') }, 'Quarantine'),
    m.safe_from_quarantine
      ? h('button', { type: 'button', onclick: () => run('Remove protection', 'Bulk quarantines may include the file again.', 'POST', `/_synapse/admin/v1/media/unprotect/${id}`, 'Unprotected') }, 'Unprotect')
      : h('button', { type: 'button', onclick: () => run('Protect', 'Bulk quarantines of a room or user will leave the file alone.', 'POST', `/_synapse/admin/v1/media/protect/${id}`, 'Protected') }, 'Protect'),
    h('button.danger', { type: 'button', onclick: () => run('Delete the file', 'The file and its thumbnails are removed for good.', 'DELETE', `/_synapse/admin/v1/media/${seg(origin)}/${id}`, 'Deleted') }, 'Delete'));
}

function byUser() {
  return pagedTable([
    { key: 'user_id', label: 'User', sort: 'user_id', render: (u) => h('a', { href: `#/media?user=${seg(u.user_id)}` }, u.user_id) },
    { key: 'displayname', label: 'Display name', sort: 'displayname', render: (u) => u.displayname || '—' },
    { key: 'media_count', label: 'Files', sort: 'media_count', num: true, render: (u) => num(u.media_count) },
    { key: 'media_length', label: 'Size', sort: 'media_length', num: true, render: (u) => bytes(u.media_length) },
  ], async ({ from, limit, orderBy, dir, search }) => {
    const page = await api('GET', '/_synapse/admin/v1/statistics/users/media', {
      query: { from, limit, order_by: orderBy, dir, search_term: opt(search) },
    });
    return { rows: page.users, total: page.total };
  }, { label: 'Media by user', search: 'Search users', orderBy: 'media_length', dir: 'b' }).element;
}

function byRoom() {
  const out = h('div');
  const roomId = input('room', { placeholder: '!room:server', 'aria-label': 'Room ID' });
  const form = h('form.toolbar', {
    onsubmit: async (e) => {
      e.preventDefault();
      fill(out, h('p.spinner', 'Loading…'));
      const id = roomId.value.trim();
      try {
        const media = await api('GET', `/_synapse/admin/v1/room/${seg(id)}/media`);
        const all = [...media.local, ...media.remote];
        fill(out, all.length ? h('ul', all.map((m) => h('li', h('code', m)))) : h('p.muted', 'No media in this room.'),
          all.length ? h('button.danger', {
            type: 'button',
            onclick: () => confirmAction('Quarantine the room\'s media', `All ${all.length} files become unavailable (protected files excepted).`, async () => {
              const r = await api('POST', `/_synapse/admin/v1/room/${seg(id)}/media/quarantine`);
              toast(`${r.num_quarantined} files quarantined`);
            }),
          }, 'Quarantine all') : null);
      } catch (err) {
        fill(out, errorBox(err));
      }
    },
  }, h('div.grow', roomId), h('button', { type: 'submit' }, 'Show media'));
  return h('div', form, out);
}

function deleteOld() {
  return h('button.danger', {
    type: 'button',
    onclick: () => dialog({
      title: 'Delete old local media',
      confirm: 'Delete',
      danger: true,
      body: [
        h('p', 'Deletes local files last used before the date. Protected and quarantined files are kept.'),
        field('Last used before', input('before', { type: 'datetime-local', required: true })),
        field('Only files larger than (bytes)', input('size', { type: 'number', min: 0, value: 0 })),
        field('Keep files used as avatars', checkbox('profiles', true)),
      ],
      submit: async (form) => {
        const ts = new Date(form.elements.before.value).getTime();
        if (!Number.isFinite(ts)) throw new Error('Pick a date and time.');
        const r = await api('POST', '/_synapse/admin/v1/media/delete', {
          query: { before_ts: ts, size_gt: form.elements.size.value || 0, keep_profiles: form.elements.profiles.checked },
        });
        toast(`${r.total} files deleted`);
      },
    }),
  }, 'Delete old media…');
}

export async function render(main, { query }) {
  const user = query.get('user');
  if (user) {
    fill(main, h('p', h('a', { href: '#/media' }, '← Media')), h('h1', `Media of ${user}`), userMedia(user));
    return;
  }
  fill(main, h('h1', 'Media'),
    h('div.actions', deleteOld()),
    h('h2', 'By user'), byUser(),
    h('h2', 'By room'), byRoom());
}
