// Federation: the other servers, their health and shared rooms, resetting a destination's
// backoff, and the allow/deny lists (runtime, overriding the configuration file).

import { api, opt, seg } from '../api.js';
import { h, fill, badge, ago, when, num, props, confirmAction, toast, errorBox } from '../dom.js';
import { pagedTable } from '../table.js';

function health(d) {
  return d.failure_ts ? badge(`failing since ${when(d.failure_ts)}`, 'bad') : badge('ok', 'ok');
}

function destinations() {
  return pagedTable([
    { key: 'destination', label: 'Server', sort: 'destination', render: (d) => h('a', { href: `#/federation?destination=${seg(d.destination)}` }, d.destination) },
    { key: 'health', label: 'Health', sort: 'failure_ts', render: health },
    { key: 'last_success_ts', label: 'Last success', sort: 'last_successful_stream_ordering', render: (d) => ago(d.last_success_ts) },
    { key: 'failures', label: 'Failures', num: true, render: (d) => num(d.failures) },
    { key: 'queue_depth', label: 'Queued', num: true, render: (d) => num(d.queue_depth) },
    { key: 'retry_interval', label: 'Next retry in', num: true, render: (d) => (d.failure_ts ? `${Math.round(d.retry_interval / 1000)} s` : '—') },
  ], async ({ from, limit, orderBy, dir, search }) => {
    const page = await api('GET', '/_synapse/admin/v1/federation/destinations', {
      query: { from, limit, order_by: orderBy, dir, destination: opt(search) },
    });
    return { rows: page.destinations, total: page.total };
  }, {
    label: 'Destinations',
    search: 'Search servers',
    orderBy: 'destination',
    rowKey: (d) => d.destination,
    onRow: (d) => { location.hash = `#/federation?destination=${seg(d.destination)}`; },
  }).element;
}

function lines(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

async function rules() {
  const current = await api('GET', '/_citadel/admin/v1/federation/rules');
  const allowed = h('textarea', { name: 'allowed', 'aria-label': 'Allowed servers' }, current.allowed_servers.join('\n'));
  const denied = h('textarea', { name: 'denied', 'aria-label': 'Denied servers' }, current.denied_servers.join('\n'));
  const message = h('div');
  const save = async (e) => {
    e.preventDefault();
    fill(message);
    try {
      await api('PUT', '/_citadel/admin/v1/federation/rules', {
        body: { allowed_servers: lines(allowed.value), denied_servers: lines(denied.value) },
      });
      fill(message, h('div.success', 'Saved; in force now.'));
    } catch (err) {
      fill(message, errorBox(err));
    }
  };
  return h('form.card', { onsubmit: save, 'aria-label': 'Allow and deny lists' },
    h('p.muted', `In force now: the ${current.source === 'runtime' ? 'lists set here' : 'configuration file\'s lists'}. One server name per line; * matches any part (*.example.org). An empty allow list allows every server not denied.`),
    h('div.grid2',
      h('div.field', h('label', { for: 'fed-allowed' }, 'Allowed servers'), Object.assign(allowed, { id: 'fed-allowed' })),
      h('div.field', h('label', { for: 'fed-denied' }, 'Denied servers'), Object.assign(denied, { id: 'fed-denied' }))),
    message,
    h('div.button-row',
      h('button.primary', { type: 'submit' }, 'Save lists'),
      current.source === 'runtime' ? h('button', {
        type: 'button',
        onclick: () => confirmAction('Use the configuration file\'s lists', 'The lists set here are removed.', async () => {
          await api('DELETE', '/_citadel/admin/v1/federation/rules');
          toast('Back to the configuration file\'s lists');
          location.reload();
        }),
      }, 'Reset to the configuration') : null));
}

async function destination(main, name) {
  const d = await api('GET', `/_synapse/admin/v1/federation/destinations/${seg(name)}`);
  const roomsTable = pagedTable([
    { key: 'room_id', label: 'Room', render: (r) => h('a', { href: `#/rooms/${seg(r.room_id)}` }, r.room_id) },
  ], async ({ from, limit }) => {
    const page = await api('GET', `/_synapse/admin/v1/federation/destinations/${seg(name)}/rooms`, { query: { from, limit } });
    return { rows: page.rooms, total: page.total };
  }, { label: 'Shared rooms', search: false });
  fill(main,
    h('p', h('a', { href: '#/federation' }, '← Federation')),
    h('h1', name),
    h('div.actions', h('button', {
      type: 'button',
      onclick: () => confirmAction('Reset the connection', `Delivery to ${name} is retried now instead of after its backoff.`, async () => {
        await api('POST', `/_synapse/admin/v1/federation/destinations/${seg(name)}/reset_connection`, { body: {} });
        toast('Connection reset');
        destination(main, name);
      }),
    }, 'Reset connection')),
    h('section.card', props([
      ['Health', health(d)],
      ['Last success', when(d.last_success_ts)],
      ['Failures in a row', num(d.failures)],
      ['Queued items', num(d.queue_depth)],
      ['Last attempt while failing', when(d.retry_last_ts)],
    ])),
    h('h2', 'Shared rooms'), roomsTable.element);
}

export async function render(main, { query }) {
  const name = query.get('destination');
  if (name) return destination(main, name);
  const rulesBox = h('div', h('p.spinner', 'Loading…'));
  fill(main, h('h1', 'Federation'), destinations(), h('h2', 'Allow and deny lists'), rulesBox);
  rules().then((form) => fill(rulesBox, form)).catch((err) => fill(rulesBox, errorBox(err)));
}
