// Dashboard: what the server holds, who uses it, how federation is doing, the latest audit
// entries, and the last hour of its metrics as small charts.

import { api } from '../api.js';
import { h, fill, svg, bytes, num, duration, ago, when, badge, errorBox } from '../dom.js';

function stat(label, value, key, sub) {
  return h('div.stat', h('div.label', label), h('div.value', { dataset: { stat: key } }, value),
    sub ? h('div.sub', sub) : null);
}

/** A small line chart of `values` (nulls are gaps drawn as zero). */
function chart(title, points, pick, unit) {
  const values = points.map((p) => Number(pick(p) ?? 0));
  const peak = Math.max(0, ...values);
  const max = Math.max(1, peak);
  const w = 300;
  const hgt = 70;
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const coords = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 4 - (v / max) * (hgt - 8)).toFixed(1)}`);
  const graphic = svg('svg', { viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `${title}, last hour` });
  if (coords.length > 1) {
    graphic.append(svg('polygon', { class: 'area', points: `0,${hgt} ${coords.join(' ')} ${w},${hgt}` }));
    graphic.append(svg('polyline', { class: 'line', points: coords.join(' ') }));
  }
  const latest = values.length ? values[values.length - 1] : 0;
  return h('div.card.chart', { dataset: { chart: title } },
    h('div.label.muted', title),
    h('div.value', `${latest.toLocaleString()} ${unit}`, h('span.muted', ` (peak ${peak.toLocaleString()})`)),
    graphic);
}

export async function render(main) {
  const [summary, history] = await Promise.all([
    api('GET', '/_citadel/admin/v1/summary'),
    api('GET', '/_citadel/admin/v1/metrics/history'),
  ]);
  const u = summary.users;
  const points = history.points || [];
  const peers = h('div', h('p.spinner', 'Loading…'));
  const recent = h('div', h('p.spinner', 'Loading…'));
  fill(main,
    h('h1', 'Dashboard'),
    h('p.muted', `${summary.server_name} · ${summary.server_version} · up ${duration(summary.uptime_seconds)}`),
    h('div.stats',
      stat('Users', num(u.active), 'users.active', `${num(u.admins)} admin${u.admins === 1 ? '' : 's'}, ${num(u.deactivated)} deactivated`),
      stat('Active today', num(u.active_today), 'users.active_today', 'used the server in the last 24 h'),
      stat('Active this month', num(u.active_month), 'users.active_month', 'in the last 30 days'),
      stat('Rooms', num(summary.rooms.total), 'rooms.total'),
      stat('Events today', num(summary.events.today), 'events.today', 'stored since midnight UTC'),
      stat('Media stored', bytes(summary.media.local.bytes), 'media.local.bytes', `${num(summary.media.local.count)} local files`),
      stat('Disk use', bytes(summary.disk.database_bytes + summary.disk.media_bytes), 'disk.total',
        `database ${bytes(summary.disk.database_bytes)}, media ${bytes(summary.disk.media_bytes)}`),
      stat('Open reports', num(summary.reports.events), 'reports.events'),
      stat('Audit entries', num(summary.audit.entries), 'audit.entries')),
    h('h2', 'Last hour'),
    points.length < 2 ? h('p.muted', 'The charts fill in as the server samples its metrics (every 10 seconds).') : null,
    h('div.charts',
      chart('Requests per second', points, (p) => p.requests_per_second, 'req/s'),
      chart('p99 latency', points, (p) => p.p99_ms, 'ms'),
      chart('Events per second', points, (p) => p.events_per_second, 'events/s'),
      chart('Failed logins', points, (p) => p.failed_logins, 'per 10 s')),
    h('div.grid2',
      h('section', h('h2', 'Federation peers'), peers),
      h('section', h('h2', 'Recent audit entries'), recent)));

  api('GET', '/_synapse/admin/v1/federation/destinations', { query: { limit: 8, order_by: 'failure_ts', dir: 'b' } })
    .then((page) => fill(peers, !summary.federation.enabled
      ? h('p.muted', 'Federation is turned off in the configuration.')
      : page.destinations.length === 0
        ? h('p.muted', 'No other server shares a room with this one yet.')
        : h('div.table-wrap', h('table', { 'aria-label': 'Federation peers' },
          h('thead', h('tr', h('th', 'Server'), h('th', 'Health'), h('th', 'Last success'), h('th.num', 'Queued'))),
          h('tbody', page.destinations.map((d) => h('tr',
            h('td', h('a', { href: `#/federation?destination=${encodeURIComponent(d.destination)}` }, d.destination)),
            h('td', d.failure_ts ? badge(`failing, ${d.failures} failures`, 'bad') : badge('ok', 'ok')),
            h('td', ago(d.last_success_ts)),
            h('td.num', num(d.queue_depth)))))))))
    .catch((err) => fill(peers, errorBox(err)));

  api('GET', '/_citadel/admin/v1/audit', { query: { dir: 'b', limit: 8 } })
    .then((page) => fill(recent, page.entries.length === 0
      ? h('p.muted', 'Nothing recorded yet.')
      : h('div.table-wrap', h('table', { 'aria-label': 'Recent audit entries' },
        h('thead', h('tr', h('th', 'When'), h('th', 'Who'), h('th', 'What'))),
        h('tbody', page.entries.map((e) => h('tr',
          h('td', { title: when(e.ts) }, ago(e.ts)), h('td', e.actor), h('td', h('code', e.action), e.target ? ` ${e.target}` : '')))))),
      h('p', h('a', { href: '#/audit' }, 'The whole audit trail →'))))
    .catch((err) => fill(recent, errorBox(err)));
}
