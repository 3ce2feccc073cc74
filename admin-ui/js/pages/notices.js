// Server notices: a message from the server to one user, or to every active account (one
// request per user, with a progress bar).

import { api } from '../api.js';
import { h, fill, field, input, errorBox, errorText } from '../dom.js';

async function everyone() {
  const all = [];
  let from = 0;
  for (;;) {
    const page = await api('GET', '/_synapse/admin/v2/users', { query: { from, limit: 200 } });
    all.push(...page.users.filter((u) => !u.deactivated).map((u) => u.name));
    if (!page.next_token) return all;
    from = Number(page.next_token);
  }
}

export async function render(main) {
  const to = input('user', { placeholder: '@someone:server' });
  const all = h('input', { type: 'checkbox', name: 'everyone', onchange: () => { to.disabled = all.checked; } });
  const text = h('textarea', { name: 'body', required: true });
  const out = h('div', { role: 'status', 'aria-live': 'polite' });
  const send = h('button.primary', { type: 'submit' }, 'Send notice');
  const form = h('form.card', {
    'aria-label': 'Send a server notice',
    onsubmit: async (e) => {
      e.preventDefault();
      fill(out);
      send.disabled = true;
      const content = { msgtype: 'm.text', body: text.value };
      try {
        const users = all.checked ? await everyone() : [to.value.trim()];
        const bar = h('progress', { max: users.length, value: 0, 'aria-label': 'Sending progress' });
        const count = h('p');
        const failures = h('ul');
        fill(out, bar, count, failures);
        let sent = 0;
        for (const [i, user] of users.entries()) {
          try {
            await api('POST', '/_synapse/admin/v1/send_server_notice', { body: { user_id: user, content } });
            sent++;
          } catch (err) {
            if (users.length === 1) throw err;
            failures.append(h('li.error', `${user}: ${errorText(err)}`));
          }
          bar.value = i + 1;
          fill(count, `Sent to ${sent} of ${users.length}.`);
        }
        if (sent === users.length) out.append(h('div.success', users.length === 1 ? `Sent to ${users[0]}.` : `Sent to all ${sent} users.`));
      } catch (err) {
        fill(out, errorBox(err));
      }
      send.disabled = false;
    },
  },
  h('p.muted', 'The notice arrives in each user\'s server notices room, which they cannot leave or reply in.'),
  field('To', to),
  field('Every active user', all),
  field('Message', text),
  send, out);
  fill(main, h('h1', 'Server notices'), form);
}
