// A table over a paged admin API: search, sort by column and pages of `limit` rows, each
// a request to the server (no page loads everything).

import { h, fill, errorBox } from './dom.js';

/**
 * columns: [{ key, label, sort (the API's order_by, or omitted), num, render(row) }]
 * load({ from, limit, orderBy, dir, search, filter }) → { rows, total }
 * options: { search: placeholder or false, filters: [[value, label]], orderBy, dir,
 *            onRow(row), limit, label, extra: toolbar elements, rowKey(row) }
 */
export function pagedTable(columns, load, options = {}) {
  const state = {
    from: 0,
    limit: options.limit || 25,
    orderBy: options.orderBy,
    dir: options.dir || 'f',
    search: '',
    filter: options.filters ? options.filters[0][0] : undefined,
  };
  const body = h('tbody');
  const status = h('span', { 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', onclick: () => go(state.from - state.limit) }, '← Previous');
  const next = h('button', { type: 'button', onclick: () => go(state.from + state.limit) }, 'Next →');
  const error = h('div');
  const headerCells = columns.map((col) => {
    if (!col.sort) return h(`th${col.num ? '.num' : ''}`, { scope: 'col' }, col.label);
    const button = h('button.sort', {
      type: 'button',
      onclick: () => {
        state.dir = state.orderBy === col.sort && state.dir === 'f' ? 'b' : 'f';
        state.orderBy = col.sort;
        go(0);
      },
    }, col.label);
    return h(`th${col.num ? '.num' : ''}`, { scope: 'col', dataset: { sort: col.sort } }, button);
  });

  let searchTimer;
  const toolbar = h('div.toolbar');
  if (options.search !== false) {
    const search = h('input', {
      type: 'search',
      placeholder: options.search || 'Search',
      'aria-label': options.search || 'Search',
      oninput: () => {
        clearTimeout(searchTimer);
        searchTimer = setTimeout(() => { state.search = search.value.trim(); go(0); }, 250);
      },
    });
    toolbar.append(h('div.grow', search));
  }
  if (options.filters) {
    toolbar.append(h('select', {
      'aria-label': 'Filter',
      onchange: (e) => { state.filter = e.target.value; go(0); },
    }, options.filters.map(([v, label]) => h('option', { value: v }, label))));
  }
  if (options.extra) toolbar.append(...[options.extra].flat());

  const table = h('div.table-wrap',
    h('table', { 'aria-label': options.label || 'List' },
      h('thead', h('tr', headerCells)), body));

  let generation = 0;
  async function go(from) {
    state.from = Math.max(0, from);
    const mine = ++generation;
    for (const th of headerCells) {
      const button = th.querySelector('button.sort');
      if (button) {
        const active = th.dataset.sort === state.orderBy;
        if (active) button.dataset.dir = state.dir; else delete button.dataset.dir;
        th.setAttribute('aria-sort', active ? (state.dir === 'f' ? 'ascending' : 'descending') : 'none');
      }
    }
    fill(status, 'Loading…');
    fill(error);
    let page;
    try {
      page = await load({ ...state });
    } catch (err) {
      if (mine !== generation) return;
      fill(status);
      fill(error, errorBox(err));
      return;
    }
    if (mine !== generation) return;
    const { rows, total } = page;
    fill(body, rows.length
      ? rows.map((row) => {
        const tr = h('tr', columns.map((col) =>
          h(`td${col.num ? '.num' : ''}`, col.render ? col.render(row) : (row[col.key] ?? '—'))));
        if (options.onRow) {
          tr.className = 'clickable';
          tr.tabIndex = 0;
          // A link or button inside the row does its own thing, not the row's.
          const own = (e) => e.target.closest('a, button, input, select');
          tr.addEventListener('click', (e) => { if (!own(e)) options.onRow(row); });
          tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !own(e)) options.onRow(row); });
        }
        if (options.rowKey) tr.dataset.key = options.rowKey(row);
        return tr;
      })
      : h('tr', h('td.empty', { colspan: columns.length }, 'Nothing here.')));
    const end = state.from + rows.length;
    fill(status, total === undefined
      ? (rows.length ? `${state.from + 1}–${end}` : '')
      : `${rows.length ? state.from + 1 : 0}–${end} of ${total}`);
    prev.disabled = state.from === 0;
    next.disabled = total === undefined ? rows.length < state.limit : end >= total;
  }

  const element = h('div', toolbar, error, table, h('div.pager', status, prev, next));
  go(0);
  return { element, reload: () => go(state.from), state };
}
