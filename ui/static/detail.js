// One listener's page (/ui/listeners/{id}): its spec and status (script
// rule hits, faults applied, the TLS certificate), a rate chart, its
// connections (close one, or send it a frame), its captured frames (as
// text and as hex) and its events. The listener, its connections and its
// frames are polled at most once a second.

import {h, replace, setText, button, select, clear} from './dom.js';
import {calls, ApiError} from './api.js';
import {subscribe, recent} from './events.js';
import {enumLabel, num, count, rate, byteRate, bytes, labelList, time, dateTime, ago, fromBase64, toBase64, utf8, fromHex, asText, hexDump} from './format.js';
import {listenerForm, prune, FAULT_KINDS} from './form.js';
import {confirmStop, toast} from './dialogs.js';
import {rateChart} from './chart.js';
import {stateBadge, eventItem} from './listeners.js';

const POLL_MS = 1000;
const FRAMES_SHOWN = 100;
const EVENTS_KEPT = 200;

export function detailView(root, id, {navigate}) {
  let listener = null;
  let editing = null;
  let gone = false;
  let prevStats = null;
  let specKey = '';

  // Head.
  const title = h('h1', {id: 'listener-title', class: 'mono'}, id);
  const stateEl = h('span', {id: 'listener-state'});
  const boundEl = h('span', {id: 'listener-bound', class: 'mono'});
  const toggleBtn = button('Stop', () => toggleRun(), {id: 'toggle-run'});
  const editBtn = button('Edit', () => startEdit(), {id: 'edit-listener'});
  const deleteBtn = button('Delete', () => removeListener(), {id: 'delete-listener', class: 'danger'});
  const headError = h('p', {class: 'form-error', id: 'listener-error', role: 'alert'});
  const head = h('section', {class: 'card detail-head'},
    h('div', {class: 'title-row'}, title, stateEl, boundEl),
    h('div', {class: 'buttons'}, toggleBtn, editBtn, deleteBtn),
    headError);

  // Status.
  const statusBody = h('div', {id: 'status-body'});
  const scriptBody = h('div', {id: 'script-status'});
  const faultsBody = h('div', {id: 'faults-status'});
  const tlsBody = h('div', {id: 'tls-status'});
  const chart = rateChart();
  const rateText = h('p', {class: 'rates', id: 'listener-rates'});

  // Spec.
  const specBody = h('div', {id: 'spec-body'});

  // Connections.
  const connBody = h('tbody');
  const connTable = h('table', {id: 'connections-table', class: 'connections'},
    h('thead', null, h('tr', null, ['ID', 'Peer', 'Local', 'Opened', 'Last activity', 'Frames in/out', 'Bytes in/out', 'TLS peer', ''].map((x) => h('th', {scope: 'col'}, x)))),
    connBody);
  const connEmpty = h('p', {class: 'empty', id: 'connections-empty'}, 'No open connections.');
  const connWrap = h('div', {class: 'table-wrap'}, connTable);
  const connRows = new Map();

  // Send.
  const sendConn = select({id: 'send-connection', name: 'connectionId'}, [['', '(choose a connection)']], '');
  const sendBody = h('textarea', {id: 'send-body', name: 'body', rows: '3', spellcheck: 'false', class: 'code', placeholder: 'the frame body'});
  const sendEnc = select({id: 'send-encoding'}, [['text', 'text (UTF-8)'], ['hex', 'hex'], ['base64', 'base64']], 'text');
  const sendHeader = h('input', {type: 'text', id: 'send-header', name: 'header', spellcheck: 'false', class: 'code', placeholder: '{"type": "chat"} (JSON header framing only)'});
  const sendErr = {
    connectionId: h('p', {class: 'field-error', dataset: {for: 'connectionId'}, role: 'alert'}),
    body: h('p', {class: 'field-error', dataset: {for: 'body'}, role: 'alert'}),
    header: h('p', {class: 'field-error', dataset: {for: 'header'}, role: 'alert'}),
  };
  const sendResult = h('p', {id: 'send-result', class: 'result', role: 'status'});
  const sendBtn = h('button', {type: 'submit', class: 'primary', id: 'send-submit'}, 'Send frame');
  const sendForm = h('form', {id: 'send-form', class: 'send-form', novalidate: true},
    h('div', {class: 'grid'},
      h('div', {class: 'field'}, h('label', {for: 'send-connection'}, 'Connection or datagram peer'), sendConn, sendErr.connectionId),
      h('div', {class: 'field'}, h('label', {for: 'send-encoding'}, 'Body is'), sendEnc),
      h('div', {class: 'field wide'}, h('label', {for: 'send-body'}, 'Body'), sendBody, sendErr.body),
      h('div', {class: 'field wide'}, h('label', {for: 'send-header'}, 'Extra header fields (JSON, optional)'), sendHeader, sendErr.header)),
    h('div', {class: 'buttons'}, sendBtn), sendResult);

  // Frames.
  const framesList = h('ol', {id: 'frames-list', class: 'frames view-both'});
  const framesNote = h('p', {class: 'hint', id: 'frames-note'});
  const framesView = select({id: 'frames-view', 'aria-label': 'show bodies as'}, [['both', 'text and hex'], ['text', 'text'], ['hex', 'hex']], 'both');
  const framesConn = select({id: 'frames-connection', 'aria-label': 'connection'}, [['', 'all connections']], '');
  const frameItems = new Map();
  let framesKey = '';
  let lastFrames = [];

  // Events.
  const eventsList = h('ol', {id: 'listener-events', class: 'events'});

  const card = (cid, heading, ...children) => h('section', {class: 'card', id: cid}, h('h2', null, heading), children);
  replace(root,
    h('nav', {class: 'crumbs'}, h('a', {href: '/ui/', dataset: {nav: ''}}, 'Listeners'), ' / ', h('span', {class: 'mono'}, id)),
    head,
    h('div', {class: 'detail-grid'},
      card('status-card', 'Status', statusBody, scriptBody, faultsBody, tlsBody),
      card('chart-card', 'Traffic', chart.el, rateText)),
    card('connections-card', 'Connections', connWrap, connEmpty),
    h('section', {class: 'card', id: 'frames-card'},
      h('div', {class: 'card-head'}, h('h2', null, 'Captured frames'), h('div', {class: 'inline'}, framesConn, framesView)),
      framesNote, framesList),
    h('div', {class: 'detail-grid'},
      card('send-card', 'Send a frame', sendForm),
      card('events-card', 'Events', eventsList, h('p', {class: 'hint'}, 'this listener\'s events since the dashboard opened, newest first'))),
    card('spec-card', 'Spec', specBody));

  // --- rendering ---

  function renderHead() {
    const st = listener.status || {};
    replace(stateEl, stateBadge(st.state));
    setText(boundEl, st.boundAddress || '');
    setText(toggleBtn, st.state === 'STATE_RUNNING' ? 'Stop' : 'Start');
    document.title = id + ' · sockplane';
  }

  function dl(pairs, props) {
    return h('dl', {class: 'kv', ...props}, pairs.filter(Boolean).map(([k, v, cls, key]) => [h('dt', null, k), h('dd', {class: cls, dataset: key ? {key} : undefined}, v)]));
  }

  function renderStatus(rates) {
    const st = listener.status || {};
    const s = st.stats || {};
    replace(statusBody, dl([
      ['State', stateBadge(st.state), '', 'state'],
      ['Bound address', st.boundAddress || '—', 'mono', 'bound'],
      st.error ? ['Error', st.error, 'bad', 'error'] : null,
      ['Started', st.startedAt ? dateTime(st.startedAt) + ' (' + ago(st.startedAt) + ')' : '—', '', 'started'],
      ['Generation', count(st.generation) + (st.observedGeneration !== st.generation ? ' (running ' + count(st.observedGeneration) + ')' : ''), '', 'generation'],
      ['Connections', count(s.connectionsActive) + ' open, ' + count(s.connectionsTotal) + ' accepted, ' + count(s.connectionsRejected) + ' rejected', '', 'connections'],
      ['Frames', count(s.framesIn) + ' in, ' + count(s.framesOut) + ' out', '', 'frames'],
      ['Bytes', bytes(s.bytesIn) + ' in, ' + bytes(s.bytesOut) + ' out', '', 'bytes'],
      ['Errors', count(s.errors), num(s.errors) ? 'bad' : '', 'errors'],
      listener.expireTime ? ['Expires', dateTime(listener.expireTime), '', 'expires'] : null,
    ], {id: 'status-list'}));
    if (rates) {
      setText(rateText, 'frames/s: ' + rate(rates.framesIn) + ' in, ' + rate(rates.framesOut) + ' out · bytes/s: ' + byteRate(rates.bytesIn) + ' in, ' + byteRate(rates.bytesOut) + ' out');
    }
    renderScriptStatus(st.script);
    renderFaultStatus(st.faults || []);
    renderTLS(st.tls);
  }

  let scriptKey = '';
  function renderScriptStatus(ss) {
    const key = JSON.stringify([ss, listener.script]);
    if (key === scriptKey) return;
    scriptKey = key;
    if (!ss || !listener.script) {
      clear(scriptBody);
      return;
    }
    const rules = listener.script.rules || [];
    const hits = ss.ruleHits || [];
    replace(scriptBody, h('h3', null, 'Script'),
      h('table', {class: 'small-table', id: 'script-hits'},
        h('thead', null, h('tr', null, h('th', null, 'Rule'), h('th', null, 'Match'), h('th', null, 'Reply'), h('th', {class: 'num'}, 'Hits'))),
        h('tbody', null,
          rules.map((r, i) => h('tr', null,
            h('td', null, '#' + i),
            h('td', {class: 'mono'}, JSON.stringify(prune(r.match || {}))),
            h('td', {class: 'mono'}, JSON.stringify(prune(r.reply || {}))),
            h('td', {class: 'num'}, count(hits[i])))),
          h('tr', null, h('td', null, 'default'), h('td', null, 'no rule matched'), h('td', {class: 'mono'}, listener.script.default ? JSON.stringify(prune(listener.script.default)) : '(none: error frame)'), h('td', {class: 'num'}, count(ss.defaultHits))),
          h('tr', null, h('td', null, 'unmatched'), h('td', null, 'no rule, no default'), h('td', null, 'error frame'), h('td', {class: 'num'}, count(ss.unmatched))))));
  }

  let faultKey = '';
  function renderFaultStatus(fs) {
    const key = JSON.stringify([fs, listener.faults]);
    if (key === faultKey) return;
    faultKey = key;
    const specs = listener.faults || [];
    if (!fs.length && !specs.length) {
      clear(faultsBody);
      return;
    }
    replace(faultsBody, h('h3', null, 'Faults'),
      h('table', {class: 'small-table', id: 'fault-status'},
        h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Fault'), h('th', {class: 'num'}, 'Applied'))),
        h('tbody', null, fs.map((f, i) => {
          const spec = specs[i] || {};
          return h('tr', null, h('td', {class: 'mono'}, f.name || ''), h('td', {class: 'mono'}, faultSummary(spec)), h('td', {class: 'num'}, count(f.applied)));
        }))));
  }

  // faultSummary: "latency delay=0.1s · p=0.5 · in · match {...}".
  function faultSummary(spec) {
    const kind = Object.keys(FAULT_KINDS).find((k) => spec[k] !== undefined) || '?';
    const parts = [kind + Object.entries(spec[kind] || {}).map(([k, v]) => ' ' + k + '=' + v).join('')];
    if (spec.probability !== undefined && spec.probability !== 1) parts.push('p=' + spec.probability);
    parts.push(spec.direction === 'DIRECTION_IN' ? 'in' : 'out');
    const match = prune(spec.match || {});
    if (Object.keys(match).length) parts.push('match ' + JSON.stringify(match));
    return parts.join(' · ');
  }

  let tlsKey = '';
  function renderTLS(t) {
    const key = t ? t.fingerprintSha256 + t.notAfter : '';
    if (key === tlsKey) return;
    tlsKey = key;
    if (!t) {
      clear(tlsBody);
      return;
    }
    replace(tlsBody, h('h3', null, 'TLS certificate'),
      dl([
        ['SHA-256', h('code', {id: 'tls-fingerprint', class: 'wrap'}, t.fingerprintSha256 || '')],
        ['Expires', t.notAfter ? dateTime(t.notAfter) : ''],
      ]),
      t.certificatePem ? h('details', null, h('summary', null, 'Certificate (PEM)'), h('pre', {class: 'code'}, t.certificatePem)) : null);
  }

  // renderSpec shows the listener's desired state, whatever fields it has.
  function renderSpec() {
    if (editing) return;
    const spec = {...listener};
    delete spec.status;
    delete spec.etag;
    const key = JSON.stringify(spec);
    if (key === specKey) return;
    specKey = key;
    const labels = labelList(listener.labels);
    const view = prune(spec);
    delete view.labels;
    delete view.id;
    replace(specBody,
      dl([['ID', listener.id, 'mono'], ['Labels', labels.length ? labels.map((x) => h('span', {class: 'chip'}, x)) : '—'], ['Etag', listener.etag || '', 'mono']]),
      specTree(view));
  }

  function specTree(v) {
    if (Array.isArray(v)) {
      return h('ol', {class: 'spec-list', start: '0'}, v.map((x) => h('li', null, specTree(x))));
    }
    if (v && typeof v === 'object') {
      return h('dl', {class: 'kv spec'}, Object.entries(v).map(([k, x]) => [h('dt', null, k), h('dd', null, specTree(x))]));
    }
    return h('span', {class: 'mono'}, typeof v === 'string' ? v : String(v));
  }

  function renderConnections(conns) {
    const seen = new Set();
    let i = 0;
    for (const c of conns) {
      seen.add(c.id);
      let row = connRows.get(c.id);
      if (!row) {
        row = makeConnRow(c.id);
        connRows.set(c.id, row);
      }
      const t = row.cells;
      setText(t.peer, c.peerAddress || '(unnamed)');
      setText(t.local, c.localAddress || '');
      setText(t.opened, time(c.openedAt));
      setText(t.last, c.lastActivityAt ? ago(c.lastActivityAt) : '');
      setText(t.frames, count(c.framesIn) + ' / ' + count(c.framesOut));
      setText(t.bytes, bytes(c.bytesIn) + ' / ' + bytes(c.bytesOut));
      setText(t.tls, c.tlsPeerSubject || '');
      if (connBody.children[i] !== row.tr) connBody.insertBefore(row.tr, connBody.children[i] || null);
      i++;
    }
    for (const [cid, row] of connRows) {
      if (!seen.has(cid)) {
        row.tr.remove();
        connRows.delete(cid);
      }
    }
    connEmpty.hidden = conns.length > 0;
    connWrap.hidden = conns.length === 0;
    // The send form's and the frame filter's choices follow the connections.
    syncOptions(sendConn, conns, '(choose a connection)');
  }

  function syncOptions(sel, conns, none) {
    const want = [''].concat(conns.map((c) => c.id));
    const have = Array.from(sel.options).map((o) => o.value);
    if (want.join('\n') === have.join('\n')) {
      // labels may change (a peer's address does not), nothing to do
      return;
    }
    const current = sel.value;
    clear(sel);
    sel.appendChild(h('option', {value: ''}, none));
    for (const c of conns) sel.appendChild(h('option', {value: c.id}, c.id + ' · ' + (c.peerAddress || '(unnamed)')));
    // The send form picks the only connection there is.
    sel.value = current && want.includes(current) ? current : (conns.length === 1 && sel === sendConn ? conns[0].id : '');
  }

  function makeConnRow(cid) {
    const cells = {};
    const tr = h('tr', {dataset: {connection: cid}});
    const mk = (k, label, cls) => {
      cells[k] = h('td', {class: cls, dataset: {label}});
      tr.appendChild(cells[k]);
    };
    mk('id', 'ID', 'mono');
    setText(cells.id, cid);
    mk('peer', 'Peer', 'mono peer');
    mk('local', 'Local', 'mono');
    mk('opened', 'Opened');
    mk('last', 'Last activity');
    mk('frames', 'Frames in/out', 'num');
    mk('bytes', 'Bytes in/out', 'num');
    mk('tls', 'TLS peer', 'mono');
    mk('actions', '');
    cells.actions.append(
      button('Send…', () => {
        sendConn.value = cid;
        sendBody.focus();
        sendForm.scrollIntoView({block: 'center'});
      }, {class: 'small send-to'}),
      button('Close', () => closeConnection(cid), {class: 'small danger close-connection'}));
    return {tr, cells};
  }

  function frameKey(f) {
    return [f.at, f.connectionId, f.direction, f.bodySize, (f.body || '').length].join('|');
  }

  function frameItem(f) {
    const body = fromBase64(f.body || '');
    const dir = f.direction === 'DIRECTION_IN' ? 'in' : 'out';
    return h('li', {class: 'frame dir-' + dir, dataset: {connection: f.connectionId || ''}},
      h('div', {class: 'frame-meta'},
        h('span', {class: 'dir'}, dir === 'in' ? '← in' : '→ out'),
        h('time', null, time(f.at)),
        h('span', null, 'conn ' + (f.connectionId || '?')),
        h('span', null, bytes(f.bodySize)),
        f.truncated ? h('span', {class: 'truncated'}, 'truncated') : null),
      f.header ? h('div', {class: 'frame-header'}, h('span', {class: 'k'}, 'header '), h('code', {class: 'frame-header-text'}, f.header)) : null,
      h('pre', {class: 'frame-text'}, body.length ? asText(body) : '(empty body)'),
      body.length ? h('pre', {class: 'frame-hex'}, hexDump(body)) : null);
  }

  function renderFrames(frames) {
    lastFrames = frames;
    const conns = new Map();
    for (const f of frames) conns.set(f.connectionId, {id: f.connectionId});
    syncOptions(framesConn, Array.from(conns.values()), 'all connections');
    const want = framesConn.value;
    const shown = frames.filter((f) => !want || f.connectionId === want);
    const newest = shown.slice(-FRAMES_SHOWN).reverse();
    // Keys name frames across polls; two alike get their rank too.
    const seenKeys = new Map();
    const keys = newest.map((f) => {
      const k = frameKey(f);
      const n = (seenKeys.get(k) || 0) + 1;
      seenKeys.set(k, n);
      return k + '#' + n;
    });
    const key = keys.join('\n');
    if (key === framesKey) return;
    framesKey = key;
    const keep = new Map();
    const items = newest.map((f, i) => {
      const k = keys[i];
      const li = frameItems.get(k) || frameItem(f);
      keep.set(k, li);
      return li;
    });
    frameItems.clear();
    for (const [k, li] of keep) frameItems.set(k, li);
    replace(framesList, items);
    setText(framesNote, shown.length
      ? (shown.length > FRAMES_SHOWN ? 'the newest ' + FRAMES_SHOWN + ' of ' + shown.length + ' captured frames, newest first' : shown.length + ' captured frame' + (shown.length === 1 ? '' : 's') + ', newest first')
      : 'No frames captured yet.');
  }

  framesView.addEventListener('change', () => {
    framesList.className = 'frames view-' + framesView.value;
  });
  framesConn.addEventListener('change', () => {
    framesKey = '';
    renderFrames(lastFrames);
  });

  function captureOn() {
    return listener && (num(listener.capture && listener.capture.maxFrames) > 0 || listener.handler === 'HANDLER_RECORD');
  }

  // --- the poll ---

  let timer = 0;
  let stopped = false;
  let running = false;
  let again = false;
  const controller = new AbortController();

  async function load() {
    const signal = controller.signal;
    const [got, conns] = await Promise.all([
      calls.get(id, signal),
      calls.connections(id, signal).catch((err) => ({error: err})),
    ]);
    const t = performance.now();
    listener = got;
    const s = (listener.status && listener.status.stats) || {};
    const cur = {t, bi: num(s.bytesIn), bo: num(s.bytesOut), fi: num(s.framesIn), fo: num(s.framesOut)};
    let rates = null;
    if (prevStats && cur.t > prevStats.t) {
      const dt = (cur.t - prevStats.t) / 1000;
      const d = (a, b) => Math.max(0, a - b) / dt;
      rates = {bytesIn: d(cur.bi, prevStats.bi), bytesOut: d(cur.bo, prevStats.bo), framesIn: d(cur.fi, prevStats.fi), framesOut: d(cur.fo, prevStats.fo)};
      chart.push({inRate: rates.bytesIn, outRate: rates.bytesOut});
    }
    prevStats = cur;
    renderHead();
    renderStatus(rates);
    renderSpec();
    if (!conns.error) renderConnections(conns.connections || []);
    if (captureOn()) {
      const fr = await calls.frames(id, signal);
      renderFrames(fr.frames || []);
    } else {
      replace(framesList);
      setText(framesNote, 'Capture is off for this listener: edit it and set Capture → Frames kept (the record handler captures by itself).');
      framesKey = '';
    }
    setText(headError, '');
  }

  async function tick(force) {
    clearTimeout(timer);
    if (stopped || gone) return;
    if (running) {
      again = again || force;
      return;
    }
    if (!force && document.hidden) {
      timer = setTimeout(tick, POLL_MS);
      return;
    }
    running = true;
    const start = performance.now();
    try {
      await load();
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (err instanceof ApiError && err.status === 404) {
        markGone('There is no listener ' + id + ' (deleted, or never created).');
      } else {
        setText(headError, 'Could not read the listener: ' + (err && err.message ? err.message : String(err)));
      }
    } finally {
      running = false;
    }
    if (stopped || gone) return;
    if (again) {
      again = false;
      tick(true);
      return;
    }
    timer = setTimeout(tick, Math.max(0, POLL_MS - (performance.now() - start)));
  }

  function markGone(message) {
    gone = true;
    clearTimeout(timer);
    setText(headError, message);
    replace(stateEl, stateBadge('STATE_DELETED'));
    for (const b of [toggleBtn, editBtn, deleteBtn, sendBtn]) b.disabled = true;
  }

  // --- actions ---

  async function toggleRun() {
    if (!listener) return;
    const running = listener.status && listener.status.state === 'STATE_RUNNING';
    try {
      if (running) {
        const how = await confirmStop({title: 'Stop ' + id, verb: 'Stop'});
        if (!how) return;
        listener = await calls.stop(id, how.mode, how.drainTimeout);
        toast('Stopped ' + id);
      } else {
        listener = await calls.start(id);
        toast('Started ' + id);
      }
      renderHead();
      renderStatus(null);
      tick(true);
    } catch (err) {
      toast((running ? 'Stop' : 'Start') + ' failed: ' + err.message, 'error');
    }
  }

  async function removeListener() {
    const how = await confirmStop({title: 'Delete ' + id, verb: 'Delete', danger: true});
    if (!how) return;
    try {
      await calls.remove(id, how.mode, how.drainTimeout);
      toast('Deleted ' + id);
      navigate('/ui/');
    } catch (err) {
      toast('Delete failed: ' + err.message, 'error');
    }
  }

  function startEdit() {
    if (!listener || editing) return;
    editing = listenerForm({
      mode: 'edit',
      listener,
      onDone(l) {
        listener = l;
        stopEdit();
        toast('Saved ' + id);
        tick(true);
      },
      onCancel: () => stopEdit(),
    });
    editBtn.disabled = true;
    replace(specBody, editing.el);
    editing.focus();
  }

  function stopEdit() {
    editing = null;
    editBtn.disabled = false;
    specKey = '';
    renderSpec();
  }

  async function closeConnection(cid) {
    try {
      await calls.closeConnection(id, cid);
      toast('Closed connection ' + cid);
      tick(true);
    } catch (err) {
      toast('Close failed: ' + err.message, 'error');
    }
  }

  sendForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const e of Object.values(sendErr)) e.textContent = '';
    setText(sendResult, '');
    const cid = sendConn.value;
    let ok = true;
    if (!cid) {
      sendErr.connectionId.textContent = 'choose a connection (a peer must have connected or sent a datagram)';
      ok = false;
    }
    let data;
    if (sendEnc.value === 'text') data = utf8(sendBody.value);
    else if (sendEnc.value === 'hex') data = fromHex(sendBody.value);
    else {
      try {
        data = fromBase64(sendBody.value.replace(/\s/g, ''));
      } catch {
        data = null;
      }
    }
    if (!data) {
      sendErr.body.textContent = 'not ' + sendEnc.value;
      ok = false;
    }
    let header;
    if (sendHeader.value.trim()) {
      try {
        header = JSON.parse(sendHeader.value);
        if (!header || typeof header !== 'object' || Array.isArray(header)) throw new Error('not an object');
      } catch (err) {
        sendErr.header.textContent = 'must be a JSON object: ' + err.message;
        ok = false;
      }
    }
    if (!ok) return;
    sendBtn.disabled = true;
    try {
      const r = await calls.send(id, cid, toBase64(data), header);
      setText(sendResult, 'Sent ' + count(r.bytesWritten) + ' bytes to connection ' + cid + '.');
    } catch (err) {
      const violations = err instanceof ApiError ? err.fieldViolations : [];
      let placed = false;
      for (const v of violations) {
        const target = v.field.startsWith('header') ? sendErr.header : v.field.startsWith('connection') ? sendErr.connectionId : v.field.startsWith('body') ? sendErr.body : null;
        if (target) {
          target.textContent = v.field + ': ' + v.description;
          placed = true;
        }
      }
      if (!placed) setText(sendResult, 'The API refused: ' + err.message);
    } finally {
      sendBtn.disabled = gone;
    }
  });

  for (const ev of recent()) {
    if (ev.listenerId === id) eventsList.insertBefore(eventItem(ev, false), eventsList.firstChild);
  }
  const unsubscribe = subscribe((ev) => {
    if (ev.listenerId !== id) return;
    eventsList.insertBefore(eventItem(ev, false), eventsList.firstChild);
    while (eventsList.children.length > EVENTS_KEPT) eventsList.lastChild.remove();
    if (ev.type === 'EVENT_TYPE_LISTENER_DELETED' || ev.type === 'EVENT_TYPE_LISTENER_EXPIRED') {
      markGone('This listener was ' + (ev.type === 'EVENT_TYPE_LISTENER_EXPIRED' ? 'deleted when its TTL ran out.' : 'deleted.'));
    }
  });

  tick(true);

  return {
    unmount() {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
      unsubscribe();
      clear(root);
      document.title = 'sockplane';
    },
  };
}
