// Rooms: the paged list with search and sorting.

import { api, opt, seg } from '../api.js';
import { h, fill, badge, num, yesNo } from '../dom.js';
import { pagedTable } from '../table.js';

export function roomName(r) {
  return r.name || r.canonical_alias || r.room_id;
}

export async function render(main) {
  const table = pagedTable([
    {
      key: 'name', label: 'Room', sort: 'name',
      render: (r) => [h('a', { href: `#/rooms/${seg(r.room_id)}` }, roomName(r)), h('div.muted.mono', r.room_id)],
    },
    { key: 'joined_members', label: 'Members', sort: 'joined_members', num: true, render: (r) => num(r.joined_members) },
    { key: 'joined_local_members', label: 'Local', sort: 'joined_local_members', num: true, render: (r) => num(r.joined_local_members) },
    { key: 'encryption', label: 'Encrypted', sort: 'encryption', render: (r) => (r.encryption ? badge('encrypted', 'ok') : badge('no', 'warn')) },
    { key: 'version', label: 'Version', sort: 'version' },
    { key: 'federatable', label: 'Federates', sort: 'federatable', render: (r) => yesNo(r.federatable) },
    { key: 'public', label: 'Public', sort: 'public', render: (r) => yesNo(r.public) },
  ], async ({ from, limit, orderBy, dir, search }) => {
    const page = await api('GET', '/_synapse/admin/v1/rooms', {
      query: { from, limit, order_by: orderBy, dir, search_term: opt(search) },
    });
    return { rows: page.rooms, total: page.total_rooms };
  }, {
    label: 'Rooms',
    search: 'Search by name, alias or ID',
    orderBy: 'joined_members',
    dir: 'b',
    rowKey: (r) => r.room_id,
    onRow: (r) => { location.hash = `#/rooms/${seg(r.room_id)}`; },
  });
  fill(main, h('h1', 'Rooms'), table.element);
}
