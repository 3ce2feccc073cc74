// One room: its details, members, state, power levels and forward extremities; block, make a
// user room admin, purge history, and delete with a progress bar over the asynchronous task.

import { api, poll, seg, server } from '../api.js';
import {
  h, fill, props, badge, num, when, yesNo, json, dialog, confirmAction, field, input, checkbox,
  toast, errorBox,
} from '../dom.js';
import { roomName } from './rooms.js';

function section(title, loader) {
  const body = h('div', h('p.spinner', 'Loading…'));
  loader().then((content) => fill(body, content)).catch((err) => fill(body, errorBox(err)));
  return h('section.card', h('h2', title), body);
}

/** Runs `start` (which returns a task ID), then shows `status(id)` in a progress dialog. */
function progressDialog(title, start, status, describe) {
  const bar = h('progress', { max: 100, value: 0, 'aria-label': `${title} progress` });
  const text = h('p', { role: 'status', 'aria-live': 'polite' }, 'Starting…');
  const close = h('button', { type: 'button', disabled: true }, 'Close');
  const dlg = h('dialog', { 'aria-label': title }, h('h2', title), bar, text, h('div.button-row', close));
  document.body.append(dlg);
  dlg.showModal();
  return new Promise((resolve) => {
    close.addEventListener('click', () => { dlg.close(); dlg.remove(); resolve(); });
    (async () => {
      try {
        const id = await start();
        const final = await poll(async () => {
          const s = await status(id);
          const { percent, message, finished } = describe(s);
          bar.value = percent;
          fill(text, message);
          return finished ? s : undefined;
        });
        if (final.status === 'failed') {
          dlg.classList.add('failed');
          fill(text, h('span.error', `Failed: ${final.error || 'see the server log'}`));
        }
      } catch (err) {
        fill(text, errorBox(err));
      }
      close.disabled = false;
      close.focus();
    })();
  });
}

function actions(roomId, room, reload) {
  const done = (message) => { toast(message); reload(); };
  const blockedPath = `/_synapse/admin/v1/rooms/${seg(roomId)}/block`;
  return h('div.actions', { role: 'group', 'aria-label': 'Room actions' },
    h('button', {
      type: 'button',
      onclick: async () => {
        const { block } = await api('GET', blockedPath);
        await confirmAction(block ? 'Unblock the room' : 'Block the room',
          block ? 'Local users may join the room again.' : 'No local user can join the room, and no new invite to it is accepted.',
          async () => {
            await api('PUT', blockedPath, { body: { block: !block } });
            done(block ? 'Room unblocked' : 'Room blocked');
          });
      },
    }, 'Block or unblock'),
    h('button', {
      type: 'button',
      onclick: () => dialog({
        title: 'Make a user room admin',
        confirm: 'Make room admin',
        body: [
          h('p', 'Gives a local user the highest power level in the room (joining them if needed). Empty means you.'),
          field('User ID', input('user_id', { placeholder: '@someone:server' })),
        ],
        submit: async (form) => {
          const userId = form.elements.user_id.value.trim();
          await api('POST', `/_synapse/admin/v1/rooms/${seg(roomId)}/make_room_admin`, { body: userId ? { user_id: userId } : {} });
          done('Room admin granted');
        },
      }),
    }, 'Make room admin'),
    h('button.danger', {
      type: 'button',
      onclick: () => dialog({
        title: 'Purge history',
        confirm: 'Purge',
        danger: true,
        body: [
          h('p', 'Removes events older than the date from this server\'s copy of the room (the current state stays).'),
          field('Purge events before', input('before', { type: 'datetime-local', required: true })),
          field('Also purge events sent by local users', checkbox('local')),
        ],
        submit: async (form) => {
          const ts = new Date(form.elements.before.value).getTime();
          if (!Number.isFinite(ts)) throw new Error('Pick a date and time.');
          const local = form.elements.local.checked;
          setTimeout(() => progressDialog('Purging history',
            async () => (await api('POST', `/_synapse/admin/v1/purge_history/${seg(roomId)}`, {
              body: { purge_up_to_ts: ts, delete_local_events: local },
            })).purge_id,
            (id) => api('GET', `/_synapse/admin/v1/purge_history_status/${seg(id)}`),
            (s) => ({
              percent: s.status === 'complete' ? 100 : s.status === 'active' ? 50 : s.status === 'failed' ? 100 : 10,
              message: `Purge ${s.status}`,
              finished: s.status === 'complete' || s.status === 'failed',
            })).then(reload));
        },
      }),
    }, 'Purge history'),
    h('button.danger', {
      type: 'button',
      onclick: () => dialog({
        title: `Delete ${roomName(room)}`,
        confirm: 'Delete room',
        danger: true,
        body: [
          h('p', 'Every local member is removed and the room is purged from this server. Members are moved to a new room with the message below, if one is given.'),
          field('Message for the members (optional)', input('message')),
          field('Block the room so nobody can join it again', checkbox('block', true)),
        ],
        submit: async (form) => {
          const body = { block: form.elements.block.checked, purge: true };
          const message = form.elements.message.value.trim();
          if (message) body.message = message;
          const members = Math.max(1, room.joined_local_members || 0);
          setTimeout(() => progressDialog('Deleting the room',
            async () => (await api('DELETE', `/_synapse/admin/v2/rooms/${seg(roomId)}`, { body })).delete_id,
            (id) => api('GET', `/_synapse/admin/v2/rooms/delete_status/${seg(id)}`),
            (s) => {
              const kicked = (s.shutdown_room && s.shutdown_room.kicked_users || []).length;
              const percent = s.status === 'complete' || s.status === 'failed' ? 100
                : s.status === 'active' ? 10 + Math.min(80, Math.round((80 * kicked) / members)) : 5;
              return {
                percent,
                message: s.status === 'complete' ? `Deleted: ${kicked} members removed.` : `${s.status}: ${kicked} of ${members} members removed`,
                finished: s.status === 'complete' || s.status === 'failed',
              };
            }).then(() => { location.hash = '#/rooms'; }));
        },
      }),
    }, 'Delete room'));
}

export async function render(main, { id: roomId }) {
  const reload = () => render(main, { id: roomId });
  let room;
  try {
    room = await api('GET', `/_synapse/admin/v1/rooms/${seg(roomId)}`);
  } catch (err) {
    fill(main, h('p', h('a', { href: '#/rooms' }, '← Rooms')), h('h1', roomId), errorBox(err));
    return;
  }
  fill(main,
    h('p', h('a', { href: '#/rooms' }, '← Rooms')),
    h('h1', roomName(room)),
    actions(roomId, room, reload),
    h('section.card', h('h2', 'Details'), props([
      ['Room ID', h('code', room.room_id)],
      ['Alias', room.canonical_alias || '—'],
      ['Topic', room.topic || '—'],
      ['Creator', room.creator || '—'],
      ['Version', room.version],
      ['Members', `${num(room.joined_members)} joined (${num(room.joined_local_members)} local)`],
      ['Encryption', room.encryption ? badge(room.encryption, 'ok') : badge('not encrypted', 'warn')],
      ['Federates', yesNo(room.federatable)],
      ['In the directory', yesNo(room.public)],
      ['Join rule', room.join_rules || '—'],
      ['History visible to', room.history_visibility || '—'],
      ['State events', num(room.state_events)],
    ])),
    h('div.grid2',
      section('Members', async () => {
        const { members, total } = await api('GET', `/_synapse/admin/v1/rooms/${seg(roomId)}/members`);
        const shown = members.slice(0, 100);
        return [h('ul', shown.map((m) => h('li', m.endsWith(`:${server.server_name}`) ? h('a', { href: `#/users/${seg(m)}` }, m) : m))),
          total > shown.length ? h('p.muted', `and ${total - shown.length} more`) : null];
      }),
      section('Power levels', async () => {
        const { state } = await api('GET', `/_synapse/admin/v1/rooms/${seg(roomId)}/state`);
        const pl = state.find((e) => e.type === 'm.room.power_levels' && e.state_key === '');
        if (!pl) return h('p.muted', 'No power levels event: the creator holds every power.');
        const usersList = Object.entries(pl.content.users || {}).sort((a, b) => b[1] - a[1]);
        const create = state.find((e) => e.type === 'm.room.create' && e.state_key === '');
        // From room version 12 the creators stand above every power level.
        const creators = Number(room.version) >= 12 && create
          ? [create.sender, ...((create.content || {}).additional_creators || [])] : [];
        return [creators.length ? h('p', `Creators, above every level: ${creators.join(', ')}`) : null,
          usersList.length ? props(usersList.map(([u, level]) => [u, String(level)])) : h('p.muted', 'Nobody else has a level of their own.'),
          h('p.muted', `Default for users ${pl.content.users_default ?? 0}, for events ${pl.content.events_default ?? 0}, for state ${pl.content.state_default ?? 50}.`)];
      }),
      section('Forward extremities', async () => {
        const fx = await api('GET', `/_synapse/admin/v1/rooms/${seg(roomId)}/forward_extremities`);
        return [h('p', `${fx.count} forward extremities`, fx.count > 10 ? badge('many: the room may be slow', 'warn') : ''),
          h('ul', fx.results.map((e) => h('li', h('code', e.event_id), ` depth ${e.depth}, received ${when(e.received_ts)}`)))];
      })),
    section('State', async () => {
      const { state } = await api('GET', `/_synapse/admin/v1/rooms/${seg(roomId)}/state`);
      return h('details', h('summary', `${state.length} state events`), json(state));
    }));
}
