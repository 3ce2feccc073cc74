// Reports: event, room and user reports; an event report opens with the reported event in
// its context; resolving a report removes it from the list.

import { api, seg } from '../api.js';
import { h, fill, when, json, dialog, confirmAction, toast, errorBox } from '../dom.js';
import { pagedTable } from '../table.js';

const KINDS = [['event', 'Event reports'], ['room', 'Room reports'], ['user', 'User reports']];

function describeEvent(e) {
  const body = e.content && (e.content.body || e.content.name || e.content.topic || e.content.membership);
  return `${e.sender}: ${e.type === 'm.room.encrypted' ? '(encrypted message)' : body || e.type}`;
}

async function showEventReport(report, reload) {
  const context = h('div', h('p.spinner', 'Loading the event in context…'));
  api('GET', `/_synapse/admin/v1/rooms/${seg(report.room_id)}/context/${seg(report.event_id)}`, { query: { limit: 4 } })
    .then((c) => fill(context, h('ol.context',
      [...(c.events_before || []).reverse(), c.event, ...(c.events_after || [])].filter(Boolean).map((e) =>
        h(e.event_id === report.event_id ? 'li.reported' : 'li',
          e.event_id === report.event_id ? h('strong', describeEvent(e)) : describeEvent(e),
          h('span.muted', ` · ${when(e.origin_server_ts)}`))))))
    .catch((err) => fill(context, errorBox(err)));
  const full = await api('GET', `/_synapse/admin/v1/event_reports/${seg(report.id)}`);
  await dialog({
    title: `Report ${report.id}`,
    confirm: 'Resolve (remove the report)',
    body: [
      h('p', `${report.user_id} reported a message by ${report.sender || 'unknown'} in ${report.name || report.room_id}: “${report.reason || 'no reason given'}”.`),
      h('h3', 'In context'), context,
      h('details', h('summary', 'The reported event'), json(full.event_json || {})),
    ],
    submit: async () => {
      await api('DELETE', `/_synapse/admin/v1/event_reports/${seg(report.id)}`);
      toast('Report resolved');
      reload();
    },
  });
}

function table(kind) {
  const columns = {
    event: [
      { key: 'received_ts', label: 'Received', render: (r) => when(r.received_ts) },
      { key: 'user_id', label: 'Reporter' },
      { key: 'sender', label: 'Sender', render: (r) => r.sender || '—' },
      { key: 'room', label: 'Room', render: (r) => h('a', { href: `#/rooms/${seg(r.room_id)}` }, r.name || r.room_id) },
      { key: 'reason', label: 'Reason', render: (r) => r.reason || '—' },
    ],
    room: [
      { key: 'received_ts', label: 'Received', render: (r) => when(r.received_ts) },
      { key: 'user_id', label: 'Reporter' },
      { key: 'room_id', label: 'Room', render: (r) => h('a', { href: `#/rooms/${seg(r.room_id)}` }, r.room_id) },
      { key: 'reason', label: 'Reason', render: (r) => r.reason || '—' },
    ],
    user: [
      { key: 'received_ts', label: 'Received', render: (r) => when(r.received_ts) },
      { key: 'user_id', label: 'Reporter' },
      { key: 'target_user_id', label: 'Reported user', render: (r) => h('a', { href: `#/users/${seg(r.target_user_id)}` }, r.target_user_id) },
      { key: 'reason', label: 'Reason', render: (r) => r.reason || '—' },
    ],
  }[kind];
  let reload = () => {};
  const resolve = (r) => confirmAction('Resolve the report', 'The report is removed from the list.', async () => {
    await api('DELETE', `/_synapse/admin/v1/${kind}_reports/${seg(r.id)}`);
    toast('Report resolved');
    reload();
  });
  const t = pagedTable(columns, async ({ from, limit }) => {
    const page = await api('GET', `/_synapse/admin/v1/${kind}_reports`, { query: { from, limit } });
    return { rows: page[`${kind}_reports`], total: page.total };
  }, {
    label: KINDS.find(([k]) => k === kind)[1],
    search: false,
    onRow: kind === 'event' ? (r) => showEventReport(r, () => t.reload()) : resolve,
  });
  reload = () => t.reload();
  return t.element;
}

export async function render(main, { query }) {
  const kind = KINDS.some(([k]) => k === query.get('kind')) ? query.get('kind') : 'event';
  fill(main, h('h1', 'Reports'),
    h('div.actions', { role: 'tablist' }, KINDS.map(([k, label]) =>
      h('a.button', { href: `#/reports?kind=${k}`, role: 'tab', 'aria-selected': String(k === kind) }, label))),
    h('p.muted', kind === 'event' ? 'Select a report to see the event in context and resolve it.' : 'Select a report to resolve it.'),
    table(kind));
}
