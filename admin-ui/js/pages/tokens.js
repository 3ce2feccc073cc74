// Registration tokens: create (uses, expiry), list, change, revoke.

import { api, opt, seg } from '../api.js';
import { h, fill, badge, when, num, dialog, confirmAction, field, input, toast } from '../dom.js';
import { pagedTable } from '../table.js';

const FILTERS = [['', 'All tokens'], ['true', 'Valid'], ['false', 'Used up or expired']];

function state(t) {
  const expired = t.expiry_time !== null && t.expiry_time <= Date.now();
  const used = t.uses_allowed !== null && t.completed >= t.uses_allowed;
  if (expired) return badge('expired', 'bad');
  if (used) return badge('used up', 'warn');
  return badge('valid', 'ok');
}

/** The expiry field: empty means never; the server judges anything else. */
function expiryOf(form) {
  const text = form.elements.expiry.value;
  if (!text) return null;
  const ts = new Date(text).getTime();
  if (!Number.isFinite(ts)) throw new Error('The expiry is not a date and time.');
  return ts;
}

function usesOf(form) {
  const text = form.elements.uses.value.trim();
  return text === '' ? null : Number(text);
}

function create(reload) {
  return dialog({
    title: 'Create a registration token',
    confirm: 'Create token',
    body: [
      field('Token (empty: a random one)', input('token', { placeholder: 'random' })),
      field('Uses allowed (empty: unlimited)', input('uses', { type: 'number', min: 0, step: 1 })),
      field('Expires (empty: never)', input('expiry', { type: 'datetime-local' })),
    ],
    submit: async (form) => {
      const body = { uses_allowed: usesOf(form), expiry_time: expiryOf(form) };
      const token = form.elements.token.value.trim();
      if (token) body.token = token;
      const created = await api('POST', '/_synapse/admin/v1/registration_tokens/new', { body });
      toast(`Token ${created.token} created`);
      reload();
    },
  });
}

function edit(t, reload) {
  const local = (ms) => {
    if (!ms) return '';
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
  };
  return dialog({
    title: `Token ${t.token}`,
    confirm: 'Save',
    body: [
      field('Uses allowed (empty: unlimited)', input('uses', { type: 'number', min: 0, step: 1, value: t.uses_allowed ?? '' })),
      field('Expires (empty: never)', input('expiry', { type: 'datetime-local', value: local(t.expiry_time) })),
    ],
    submit: async (form) => {
      await api('PUT', `/_synapse/admin/v1/registration_tokens/${seg(t.token)}`, {
        body: { uses_allowed: usesOf(form), expiry_time: expiryOf(form) },
      });
      toast('Token saved');
      reload();
    },
  });
}

export async function render(main) {
  const table = pagedTable([
    { key: 'token', label: 'Token', render: (t) => h('code', t.token) },
    { key: 'state', label: 'State', render: state },
    { key: 'uses', label: 'Used', num: true, render: (t) => `${num(t.completed)} of ${t.uses_allowed === null ? 'unlimited' : num(t.uses_allowed)}` },
    { key: 'expiry_time', label: 'Expires', render: (t) => (t.expiry_time === null ? 'never' : when(t.expiry_time)) },
    {
      key: 'revoke', label: 'Actions',
      render: (t) => h('button.danger', {
        type: 'button',
        onclick: (e) => {
          e.stopPropagation();
          confirmAction('Revoke the token', `Nobody can register with ${t.token} any more.`, async () => {
            await api('DELETE', `/_synapse/admin/v1/registration_tokens/${seg(t.token)}`);
            toast('Token revoked');
            table.reload();
          }, 'Revoke');
        },
      }, 'Revoke'),
    },
  ], async ({ from, limit, search, filter }) => {
    const page = await api('GET', '/_synapse/admin/v1/registration_tokens', {
      query: { from, limit, search_term: opt(search), valid: opt(filter) },
    });
    return { rows: page.registration_tokens, total: page.total };
  }, {
    label: 'Registration tokens',
    search: 'Search tokens',
    filters: FILTERS,
    rowKey: (t) => t.token,
    onRow: (t) => edit(t, () => table.reload()),
    extra: h('button.primary', { type: 'button', onclick: () => create(() => table.reload()) }, 'Create token'),
  });
  fill(main, h('h1', 'Registration tokens'),
    h('p.muted', 'With registration set to "token", people register with one of these. Select a token to change its uses or expiry.'),
    table.element);
}
