// The audit trail: newest first with filters, one entry with its inclusion proof, and
// verification of the whole trail against its signed tree heads.

import { api, opt } from '../api.js';
import { h, fill, when, json, props, num, dialog, field, input, errorBox } from '../dom.js';

async function showEntry(entry) {
  const proof = h('div', h('p.spinner', 'Loading the inclusion proof…'));
  api('GET', '/_citadel/admin/v1/audit/proof', { query: { seq: entry.seq } })
    .then((p) => fill(proof, props([
      ['Leaf hash', h('code', p.leaf_hash)],
      ['In a tree of', `${num(p.tree_size)} entries`],
      ['Audit path', p.audit_path.length ? h('ol', p.audit_path.map((x) => h('li', h('code', x)))) : 'none (the only entry)'],
    ])))
    .catch((err) => fill(proof, errorBox(err)));
  await dialog({
    title: `Audit entry ${entry.seq}`,
    confirm: 'Close',
    body: [
      props([
        ['When', when(entry.ts)],
        ['Who', entry.actor],
        ['What', h('code', entry.action)],
        ['Target', entry.target || '—'],
        ['From', [entry.ip || '—', entry.user_agent ? ` (${entry.user_agent})` : '']],
      ]),
      h('h3', 'Details'), json(entry.details ?? {}),
      h('h3', 'Inclusion proof'), proof,
    ],
  });
}

async function verify(out) {
  fill(out, h('p.spinner', 'Verifying every entry against the signed tree heads…'));
  try {
    const [report, head] = await Promise.all([
      api('GET', '/_citadel/admin/v1/audit/verify'),
      api('GET', '/_citadel/admin/v1/audit/head'),
    ]);
    const th = head.tree_head;
    fill(out, h('section.card', { dataset: { verify: report.intact ? 'intact' : 'damaged' } },
      h('h2', 'Verification'),
      report.intact
        ? h('div.success', { role: 'status' }, `Intact: ${num(report.entries)} entries (${num(report.pruned)} pruned by retention) match ${num(report.tree_heads)} signed tree heads.`)
        : h('div.error', { role: 'alert' }, 'DAMAGED: the trail does not match its signed tree heads.',
          h('ul', report.problems.map((p) => h('li', p)))),
      h('h3', 'Latest signed tree head'),
      th ? props([
        ['Tree size', num(th.tree_size)],
        ['Root hash', h('code', th.root_hash)],
        ['Signed at', when(th.ts)],
        ['Signatures', json(th.signatures)],
      ]) : h('p.muted', 'No tree head yet.')));
  } catch (err) {
    fill(out, errorBox(err));
  }
}

export async function render(main) {
  const filters = {
    actor: input('actor', { placeholder: '@admin:server or cli' }),
    action: input('action', { placeholder: 'admin.user (a prefix)' }),
    target: input('target', { placeholder: 'exact target' }),
  };
  const body = h('tbody');
  const error = h('div');
  const status = h('span');
  const newer = h('button', { type: 'button' }, '← Newer');
  const older = h('button', { type: 'button' }, 'Older →');
  const verifyOut = h('div');
  // Each page starts before a sequence number; the stack lets "Newer" go back.
  let stack = [];
  let next;
  async function load(from) {
    fill(error);
    fill(status, 'Loading…');
    try {
      const page = await api('GET', '/_citadel/admin/v1/audit', {
        query: {
          dir: 'b', limit: 25, from,
          actor: opt(filters.actor.value.trim()),
          action: opt(filters.action.value.trim()),
          target: opt(filters.target.value.trim()),
        },
      });
      next = page.next_token;
      fill(body, page.entries.length ? page.entries.map((e) => {
        const tr = h('tr.clickable', { tabindex: 0, dataset: { action: e.action } },
          h('td.num', String(e.seq)), h('td', when(e.ts)), h('td', e.actor), h('td', h('code', e.action)), h('td', e.target || '—'));
        tr.addEventListener('click', () => showEntry(e));
        tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') showEntry(e); });
        return tr;
      }) : h('tr', h('td.empty', { colspan: 5 }, 'No entries match.')));
      fill(status, page.entries.length ? `entries ${page.entries[page.entries.length - 1].seq}–${page.entries[0].seq}` : '');
      older.disabled = !next;
      newer.disabled = stack.length <= 1;
    } catch (err) {
      fill(status);
      fill(error, errorBox(err));
    }
  }
  const start = () => { stack = [undefined]; load(undefined); };
  older.addEventListener('click', () => { stack.push(next); load(next); });
  newer.addEventListener('click', () => { stack.pop(); load(stack[stack.length - 1]); });
  fill(main,
    h('h1', 'Audit trail'),
    h('p.muted', 'Every sign-in, registration and admin action, in a tamper-evident log: each entry is a leaf of a Merkle tree whose heads the server signs.'),
    h('div.actions', h('button.primary', { type: 'button', onclick: () => verify(verifyOut) }, 'Verify the trail')),
    verifyOut,
    h('form.toolbar', { onsubmit: (e) => { e.preventDefault(); start(); } },
      h('div.grow', field('Who', filters.actor)),
      h('div.grow', field('Action', filters.action)),
      h('div.grow', field('Target', filters.target)),
      h('button', { type: 'submit' }, 'Filter')),
    error,
    h('div.table-wrap', h('table', { 'aria-label': 'Audit entries' },
      h('thead', h('tr', ['#', 'When', 'Who', 'What', 'Target'].map((x) => h('th', { scope: 'col' }, x)))), body)),
    h('div.pager', status, newer, older));
  start();
}
