// The listeners page (/ui/): a table of one page of listeners
// (GET /v1/listeners?pageSize=&pageToken=&filter=), polled at most once a
// second, with frames/s and bytes/s from the change of the counters
// between polls; the event stream moves states at once. The label
// selector is the API's filter; the text search looks through every
// listener the selector gives (read a thousand at a time) and shows one
// page of the matches. Rows are kept and only their changed cells
// rewritten, so a page of hundreds stays cheap to refresh.

import {h, replace, setText, button, select, clear} from './dom.js';
import {calls, ApiError} from './api.js';
import {subscribe, recent} from './events.js';
import {enumLabel, num, count, rate, byteRate, labelList, time} from './format.js';
import {listenerForm} from './form.js';
import {confirmStop, toast} from './dialogs.js';

const PAGE_SIZES = ['25', '50', '100', '200', '500'];
const POLL_MS = 1000;
const EVENTS_KEPT = 100;

export function listenerHref(id) {
  return '/ui/listeners/' + encodeURIComponent(id);
}

export function stateBadge(state, props = {}) {
  const name = enumLabel.state(state) || 'unknown';
  return h('span', {class: 'badge state-' + name.replace(/\s+/g, '-'), ...props}, name);
}

// eventItem renders one event of the stream as text.
export function eventItem(ev, withListener) {
  const type = enumLabel.event(ev.type);
  return h('li', {class: 'event ev-' + type.replace(/\s+/g, '-')},
    h('time', {class: 'ev-time'}, time(ev.at)),
    h('span', {class: 'ev-type'}, type),
    withListener && ev.listenerId ? h('a', {class: 'ev-listener', href: listenerHref(ev.listenerId), dataset: {nav: ''}}, ev.listenerId) : null,
    ev.connectionId ? h('span', {class: 'ev-conn'}, 'conn ' + ev.connectionId) : null,
    ev.peerAddress ? h('span', {class: 'ev-peer'}, ev.peerAddress) : null,
    ev.message ? h('span', {class: 'ev-message'}, ev.message) : null,
    num(ev.dropped) ? h('span', {class: 'ev-dropped'}, count(ev.dropped) + ' dropped') : null);
}

export function listenersView(root, {navigate}) {
  const params = new URLSearchParams(location.search);
  const state = {
    filter: params.get('filter') || '',
    text: params.get('q') || '',
    pageSize: PAGE_SIZES.includes(params.get('size')) ? params.get('size') : '50',
    tokens: [''], // the page token of each page seen, for Previous
    page: 0,
    nextToken: '',
    clientPage: 0, // the page of the text search's matches
  };
  const rows = new Map(); // id -> row
  const prev = new Map(); // id -> {t, frames, bytes}: the last counters seen

  // Toolbar.
  const filterIn = h('input', {type: 'text', id: 'filter-selector', placeholder: 'env=ci,tier in (a,b),!old', spellcheck: 'false', autocomplete: 'off', value: state.filter});
  const filterErr = h('p', {class: 'field-error', id: 'filter-error', dataset: {for: 'filter'}, role: 'alert'});
  const textIn = h('input', {type: 'search', id: 'filter-text', placeholder: 'id, address, label, handler…', spellcheck: 'false', autocomplete: 'off', value: state.text});
  const sizeIn = select({id: 'page-size'}, PAGE_SIZES.map((n) => [n, n]), state.pageSize);
  const newBtn = button('New listener', () => toggleCreate(), {class: 'primary', id: 'new-listener'});
  const toolbar = h('section', {class: 'toolbar'},
    h('div', {class: 'filters'},
      h('div', {class: 'field grow'}, h('label', {for: 'filter-selector'}, 'Label selector (server-side)'), filterIn, filterErr),
      h('div', {class: 'field grow'}, h('label', {for: 'filter-text'}, 'Search'), textIn),
      h('div', {class: 'field'}, h('label', {for: 'page-size'}, 'Per page'), sizeIn)),
    newBtn);

  // The create form, hidden until asked for.
  const createPanel = h('section', {class: 'card create-panel', id: 'create-panel', hidden: true});
  let createForm = null;
  function toggleCreate(show) {
    const open = show === undefined ? createPanel.hidden : show;
    if (open && !createForm) {
      createForm = listenerForm({
        mode: 'create',
        onDone(l) {
          toast('Created ' + l.id);
          navigate(listenerHref(l.id));
        },
        onCancel: () => toggleCreate(false),
      });
      replace(createPanel, h('h2', null, 'New listener'), createForm.el);
    }
    createPanel.hidden = !open;
    setText(newBtn, open ? 'Close form' : 'New listener');
    if (open) createForm.focus();
  }

  // The table.
  const columns = [
    ['id', 'ID'], ['transport', 'Transport'], ['handler', 'Handler'], ['state', 'State'],
    ['bound', 'Bound address'], ['labels', 'Labels'], ['node', 'Node'], ['conns', 'Conns', 'num'],
    ['fps', 'Frames/s', 'num'], ['bps', 'Bytes/s', 'num'], ['errors', 'Errors', 'num'], ['actions', ''],
  ];
  const tbody = h('tbody');
  const table = h('table', {id: 'listeners-table', class: 'listeners no-node'},
    h('thead', null, h('tr', null, columns.map(([k, label, cls]) => h('th', {class: ['col-' + k, cls], scope: 'col'}, label)))),
    tbody);
  const empty = h('p', {class: 'empty', id: 'listeners-empty', hidden: true});
  const listError = h('p', {class: 'form-error', id: 'list-error', role: 'alert'});
  const prevBtn = button('‹ Previous', () => goPage(-1), {id: 'prev-page', class: 'ghost'});
  const nextBtn = button('Next ›', () => goPage(1), {id: 'next-page', class: 'ghost'});
  const pageInfo = h('span', {id: 'page-info', class: 'page-info'});
  const pager = h('div', {class: 'pager'}, prevBtn, pageInfo, nextBtn);
  prevBtn.disabled = true;
  nextBtn.disabled = true;

  // The events of every listener.
  const eventsLog = h('ol', {id: 'events-log', class: 'events'});
  const eventsCard = h('details', {class: 'card events-card', open: true},
    h('summary', null, h('h2', null, 'Events')), eventsLog,
    h('p', {class: 'hint'}, 'from /v1/events, newest first'));

  replace(root,
    h('h1', {class: 'page-title'}, 'Listeners'),
    toolbar, createPanel, listError,
    h('div', {class: 'table-wrap'}, table), empty, pager, eventsCard);

  function makeRow(id) {
    const cells = {};
    const tr = h('tr', {dataset: {id}});
    for (const [k, label, cls] of columns) {
      const td = h('td', {class: ['col-' + k, cls], dataset: {label}});
      cells[k] = td;
      tr.appendChild(td);
    }
    cells.id.appendChild(h('a', {href: listenerHref(id), dataset: {nav: ''}, class: 'mono listener-link'}, id));
    const toggle = button('Stop', () => toggleRun(row), {class: 'small toggle-run'});
    const del = button('Delete', () => removeListener(row), {class: 'small danger delete'});
    cells.actions.append(toggle, del);
    const row = {id, tr, cells, toggle, listener: null, labelsKey: null, stateKey: null};
    return row;
  }

  function updateRow(row, l, rates) {
    row.listener = l;
    const st = l.status || {};
    const stats = st.stats || {};
    setText(row.cells.transport, enumLabel.transport(l.transport));
    setText(row.cells.handler, enumLabel.handler(l.handler) || 'echo');
    const stateName = enumLabel.state(st.state) || 'unknown';
    if (row.stateKey !== stateName + (st.error || '')) {
      row.stateKey = stateName + (st.error || '');
      replace(row.cells.state, stateBadge(st.state, {title: st.error || ''}));
    }
    setText(row.cells.bound, st.boundAddress || '—');
    row.cells.bound.classList.add('mono');
    const labels = labelList(l.labels);
    const key = labels.join('\n');
    if (row.labelsKey !== key) {
      row.labelsKey = key;
      replace(row.cells.labels, labels.map((x) => h('span', {class: 'chip'}, x)));
    }
    setText(row.cells.node, l.node || '—');
    setText(row.cells.conns, count(stats.connectionsActive));
    setText(row.cells.fps, rates ? rate(rates.frames) : '–');
    setText(row.cells.bps, rates ? byteRate(rates.bytes) : '–');
    if (rates) {
      row.cells.fps.title = 'in ' + rate(rates.framesIn) + ', out ' + rate(rates.framesOut) + ' frames/s';
      row.cells.bps.title = 'in ' + byteRate(rates.bytesIn) + ', out ' + byteRate(rates.bytesOut);
    }
    setText(row.cells.errors, count(stats.errors));
    row.cells.errors.classList.toggle('bad', num(stats.errors) > 0);
    setText(row.toggle, st.state === 'STATE_RUNNING' ? 'Stop' : 'Start');
  }

  // ratesOf: the per-second change of a listener's counters since the
  // last poll that saw it.
  function ratesOf(l, t) {
    const s = (l.status && l.status.stats) || {};
    const cur = {t, fi: num(s.framesIn), fo: num(s.framesOut), bi: num(s.bytesIn), bo: num(s.bytesOut)};
    const p = prev.get(l.id);
    prev.set(l.id, cur);
    if (!p || cur.t <= p.t) return null;
    const dt = (cur.t - p.t) / 1000;
    const d = (a, b) => Math.max(0, a - b) / dt;
    const r = {framesIn: d(cur.fi, p.fi), framesOut: d(cur.fo, p.fo), bytesIn: d(cur.bi, p.bi), bytesOut: d(cur.bo, p.bo)};
    r.frames = r.framesIn + r.framesOut;
    r.bytes = r.bytesIn + r.bytesOut;
    return r;
  }

  function render(items, t) {
    const seen = new Set();
    let hasNode = false;
    let i = 0;
    for (const l of items) {
      seen.add(l.id);
      if (l.node) hasNode = true;
      let row = rows.get(l.id);
      if (!row) {
        row = makeRow(l.id);
        rows.set(l.id, row);
      }
      updateRow(row, l, ratesOf(l, t));
      // Keep the DOM in the page's order, moving only what is out of place.
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
      i++;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.tr.remove();
        rows.delete(id);
      }
    }
    table.classList.toggle('no-node', !hasNode);
  }

  function matchesText(l, q) {
    const st = l.status || {};
    const hay = [l.id, l.address, st.boundAddress, l.transport, l.handler, st.state, l.node, ...labelList(l.labels)]
      .filter(Boolean).join(' ').toLowerCase();
    return q.split(/\s+/).filter(Boolean).every((w) => hay.includes(w));
  }

  let controller = null;
  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const size = Number(state.pageSize);
    const q = state.text.trim().toLowerCase();
    let items;
    let info;
    let hasPrev;
    let hasNext;
    let total = null;
    if (q) {
      const all = [];
      let token = '';
      do {
        const r = await calls.list({filter: state.filter, pageSize: 1000, pageToken: token}, signal);
        all.push(...(r.listeners || []));
        token = r.nextPageToken || '';
      } while (token);
      const matches = all.filter((l) => matchesText(l, q));
      const pages = Math.max(1, Math.ceil(matches.length / size));
      if (state.clientPage >= pages) state.clientPage = pages - 1;
      items = matches.slice(state.clientPage * size, (state.clientPage + 1) * size);
      hasPrev = state.clientPage > 0;
      hasNext = state.clientPage < pages - 1;
      info = matches.length + ' of ' + all.length + ' match · page ' + (state.clientPage + 1) + ' of ' + pages;
      total = matches.length;
    } else {
      const r = await calls.list({filter: state.filter, pageSize: size, pageToken: state.tokens[state.page]}, signal);
      items = r.listeners || [];
      if (!items.length && state.page > 0) {
        // The page emptied (deletes): back to the one before.
        state.page--;
        return load();
      }
      state.nextToken = r.nextPageToken || '';
      hasPrev = state.page > 0;
      hasNext = Boolean(state.nextToken);
      info = 'page ' + (state.page + 1) + ' · ' + items.length + ' listener' + (items.length === 1 ? '' : 's') + (hasNext ? ', more on the next pages' : '');
      total = items.length;
    }
    const t = performance.now();
    render(items, t);
    prevBtn.disabled = !hasPrev;
    nextBtn.disabled = !hasNext;
    setText(pageInfo, info);
    empty.hidden = total > 0;
    setText(empty, state.filter || q ? 'No listener matches.' : 'No listeners yet: create one with “New listener”.');
    setText(filterErr, '');
    filterIn.removeAttribute('aria-invalid');
    setText(listError, '');
  }

  // The poll: at most once a second, skipped while the tab is hidden. A
  // change of filter or page loads at once (the next poll then waits its
  // second again).
  let timer = 0;
  let stopped = false;
  let running = false;
  let again = false;
  let lastStart = -Infinity;
  async function tick(force) {
    clearTimeout(timer);
    if (stopped) return;
    if (running) {
      again = again || force;
      return;
    }
    if (!force && document.hidden) {
      timer = setTimeout(tick, POLL_MS);
      return;
    }
    running = true;
    lastStart = performance.now();
    try {
      await load();
    } catch (err) {
      if (err && err.name === 'AbortError') {
        // a newer load replaced it
      } else if (err instanceof ApiError && err.status === 400 && state.filter) {
        setText(filterErr, err.message);
        filterIn.setAttribute('aria-invalid', 'true');
      } else {
        setText(listError, 'Could not list the listeners: ' + (err && err.message ? err.message : String(err)));
      }
    } finally {
      running = false;
    }
    if (stopped) return;
    if (again) {
      again = false;
      tick(true);
      return;
    }
    timer = setTimeout(tick, Math.max(0, POLL_MS - (performance.now() - lastStart)));
  }

  function resetPages() {
    state.tokens = [''];
    state.page = 0;
    state.clientPage = 0;
    prev.clear();
  }

  function saveQuery() {
    const p = new URLSearchParams();
    if (state.filter) p.set('filter', state.filter);
    if (state.text) p.set('q', state.text);
    if (state.pageSize !== '50') p.set('size', state.pageSize);
    const qs = p.toString();
    history.replaceState(null, '', '/ui/' + (qs ? '?' + qs : ''));
  }

  function goPage(delta) {
    if (state.text.trim()) {
      state.clientPage = Math.max(0, state.clientPage + delta);
    } else if (delta > 0 && state.nextToken) {
      state.tokens[state.page + 1] = state.nextToken;
      state.page++;
    } else if (delta < 0 && state.page > 0) {
      state.page--;
    }
    tick(true);
  }

  let debounce = 0;
  const onFilter = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      const f = filterIn.value.trim();
      const q = textIn.value;
      if (f === state.filter && q === state.text) return;
      state.filter = f;
      state.text = q;
      resetPages();
      saveQuery();
      tick(true);
    }, 300);
  };
  filterIn.addEventListener('input', onFilter);
  textIn.addEventListener('input', onFilter);
  filterIn.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') onFilter(); });
  sizeIn.addEventListener('change', () => {
    state.pageSize = sizeIn.value;
    resetPages();
    saveQuery();
    tick(true);
  });

  async function toggleRun(row) {
    const l = row.listener;
    if (!l) return;
    const running = l.status && l.status.state === 'STATE_RUNNING';
    try {
      let updated;
      if (running) {
        const how = await confirmStop({title: 'Stop ' + l.id, verb: 'Stop'});
        if (!how) return;
        updated = await calls.stop(l.id, how.mode, how.drainTimeout);
        toast('Stopped ' + l.id);
      } else {
        updated = await calls.start(l.id);
        toast('Started ' + l.id);
      }
      updateRow(row, updated, null);
    } catch (err) {
      toast((running ? 'Stop' : 'Start') + ' ' + l.id + ' failed: ' + err.message, 'error');
    }
  }

  async function removeListener(row) {
    const id = row.id;
    const how = await confirmStop({title: 'Delete ' + id, verb: 'Delete', danger: true});
    if (!how) return;
    try {
      await calls.remove(id, how.mode, how.drainTimeout);
      row.tr.remove();
      rows.delete(id);
      toast('Deleted ' + id);
      tick(true);
    } catch (err) {
      toast('Delete ' + id + ' failed: ' + err.message, 'error');
    }
  }

  // Events: into the log, and a listener's state moves at once.
  for (const ev of recent().slice(-EVENTS_KEPT)) eventsLog.insertBefore(eventItem(ev, true), eventsLog.firstChild);
  const unsubscribe = subscribe((ev) => {
    eventsLog.insertBefore(eventItem(ev, true), eventsLog.firstChild);
    while (eventsLog.children.length > EVENTS_KEPT) eventsLog.lastChild.remove();
    const row = rows.get(ev.listenerId);
    const moved = {
      EVENT_TYPE_LISTENER_STARTED: 'STATE_RUNNING',
      EVENT_TYPE_LISTENER_STOPPED: 'STATE_STOPPED',
      EVENT_TYPE_LISTENER_FAILED: 'STATE_FAILED',
    }[ev.type];
    if (row && row.listener && moved) {
      const l = {...row.listener, status: {...(row.listener.status || {}), state: moved, error: ev.type === 'EVENT_TYPE_LISTENER_FAILED' ? ev.message : ''}};
      updateRow(row, l, null);
    }
    if (row && (ev.type === 'EVENT_TYPE_LISTENER_DELETED' || ev.type === 'EVENT_TYPE_LISTENER_EXPIRED')) {
      row.tr.remove();
      rows.delete(ev.listenerId);
    }
  });

  tick(true);

  return {
    unmount() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(debounce);
      if (controller) controller.abort();
      unsubscribe();
      clear(root);
    },
  };
}
