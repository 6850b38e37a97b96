// The listener form: create (POST /v1/listeners) and edit in place
// (PATCH /v1/listeners/{id}?updateMask=...). It covers every field of a
// Listener; an empty input means "the API's default", which the
// placeholders show. Errors come back with the path of the field they
// name (details[].fieldViolations[].field, e.g. listener.limits.maxBodyBytes
// or listener.script.rules[2].match.bodyRegex) and are shown next to that
// field, or next to the nearest enclosing one the form has.

import {h, select, button} from './dom.js';
import {ApiError, calls} from './api.js';
import {durationOK, labelList} from './format.js';

const TRANSPORTS = [
  ['TRANSPORT_TCP', 'TCP'],
  ['TRANSPORT_UDP', 'UDP'],
  ['TRANSPORT_UNIX', 'Unix stream'],
  ['TRANSPORT_UNIXGRAM', 'Unix datagram'],
];
const HANDLERS = [
  ['', 'echo (default)'],
  ['HANDLER_ECHO', 'echo'],
  ['HANDLER_UPPER', 'upper'],
  ['HANDLER_EXEC', 'exec'],
  ['HANDLER_DISCARD', 'discard'],
  ['HANDLER_RECORD', 'record'],
  ['HANDLER_SCRIPT', 'script'],
  ['HANDLER_PROXY', 'proxy'],
];
const FRAMINGS = [
  ['', 'JSON header (default)'],
  ['FRAMING_JSON_HEADER', 'JSON header'],
  ['FRAMING_LENGTH_PREFIXED', 'length-prefixed'],
  ['FRAMING_RAW', 'raw'],
];
const BYTE_ORDERS = [
  ['', 'little-endian (default)'],
  ['BYTE_ORDER_LITTLE_ENDIAN', 'little-endian'],
  ['BYTE_ORDER_BIG_ENDIAN', 'big-endian (network)'],
];
const DIRECTIONS = [
  ['', 'out (default): replies'],
  ['DIRECTION_OUT', 'out: replies'],
  ['DIRECTION_IN', 'in: requests'],
];

// The kinds of fault and their parameters: [name, type, placeholder].
export const FAULT_KINDS = {
  latency: [['delay', 'duration', 'required, e.g. 200ms'], ['jitter', 'duration', '0s']],
  bandwidth: [['bytesPerSecond', 'uint', 'required, e.g. 1024']],
  slicer: [['averageBytes', 'uint', 'required'], ['variationBytes', 'uint', '0'], ['delay', 'duration', '0s']],
  timeout: [['after', 'duration', '0s: never close']],
  resetPeer: [['after', 'duration', '0s: at once']],
  slowClose: [['delay', 'duration', 'required']],
  limitData: [['bytes', 'uint64', 'required']],
  drop: [],
  duplicate: [],
};

const SCRIPT_EXAMPLE = `{
  "greeting": {"body": "220 ready"},
  "rules": [
    {"match": {"bodyPrefix": "PING"}, "reply": {"body": "PONG"}},
    {"match": {"bodyRegex": "^QUIT"}, "reply": {"body": "bye", "then": "THEN_CLOSE"}}
  ],
  "default": {"echo": true}
}`;

let uid = 0;
const nextId = (p) => p + '-' + (++uid);

// parentPath drops the last part of a field path: a [index] or ["key"],
// else a .name.
export function parentPath(p) {
  const bracket = /\[(?:\d+|"(?:[^"\\]|\\.)*")\]$/.exec(p);
  if (bracket) return p.slice(0, bracket.index);
  const dot = p.lastIndexOf('.');
  return dot > 0 ? p.slice(0, dot) : '';
}

// prune drops what the API fills in with its defaults (false, "", {}, [])
// so that a script or a match read back is short to edit. bodyEquals and
// body keep "": an empty body is a value there.
export function prune(v) {
  if (Array.isArray(v)) return v.map(prune);
  if (!v || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    const p = prune(x);
    if (p === false || (p === '' && k !== 'bodyEquals' && k !== 'body')) continue;
    if (p && typeof p === 'object' && !Array.isArray(p) && Object.keys(p).length === 0) continue;
    if (Array.isArray(p) && p.length === 0) continue;
    if (k === 'then' && p === 'THEN_KEEP_OPEN') continue;
    out[k] = p;
  }
  return out;
}

// listenerForm builds the form. mode is 'create' or 'edit' (then
// listener is the one to edit). onDone gets the listener the API
// returned; onCancel, if given, adds a Cancel button.
export function listenerForm({mode, listener, onDone, onCancel}) {
  const editing = mode === 'edit';
  const form = h('form', {class: 'listener-form', novalidate: true, id: editing ? 'edit-form' : 'create-form'});
  const formError = h('p', {class: 'form-error', role: 'alert', dataset: {for: 'form'}});

  // field wraps a control with its label and its error line.
  function field(path, label, control, hint) {
    const id = nextId('f');
    control.id = id;
    if (!control.name) control.name = path;
    const err = h('p', {class: 'field-error', id: id + '-error', dataset: {for: path}, role: 'alert'});
    control.setAttribute('aria-describedby', err.id);
    return h('div', {class: 'field', dataset: {field: path}},
      h('label', {for: id}, label),
      control,
      hint ? h('small', {class: 'hint'}, hint) : null,
      err);
  }
  const text = (placeholder, props = {}) => h('input', {type: 'text', placeholder, spellcheck: 'false', autocomplete: 'off', ...props});
  const number = (placeholder) => h('input', {type: 'text', inputmode: 'numeric', placeholder, autocomplete: 'off'});
  const section = (path, title, ...children) =>
    h('fieldset', {class: 'section', dataset: {field: path}},
      h('legend', null, title),
      h('div', {class: 'grid'}, children),
      h('p', {class: 'field-error section-error', dataset: {for: path}, role: 'alert'}));

  // Basics.
  const idIn = text('generated when empty, e.g. tcp-5f0c1a2b', {maxlength: '63'});
  if (editing) idIn.readOnly = true;
  const transportIn = select({}, TRANSPORTS, 'TRANSPORT_TCP');
  const addressIn = text('127.0.0.1:0 (port 0: any free port)');
  const handlerIn = select({}, HANDLERS, '');
  const unixModeIn = text('0600 (default)', {maxlength: '4'});
  const unixModeField = field('listener.unixMode', 'Unix socket mode', unixModeIn, 'octal, Unix transports only');
  const nodeIn = text('default: the node this page talks to', {maxlength: '63'});
  const basics = section('listener', 'Listener',
    field('listener.id', 'ID', idIn, editing ? 'cannot change' : "lowercase letters, digits and '-'"),
    field('listener.transport', 'Transport', transportIn),
    field('listener.address', 'Address', addressIn, 'host:port, or a socket path / @abstract for Unix'),
    field('listener.handler', 'Handler', handlerIn),
    unixModeField,
    field('listener.node', 'Node', nodeIn, 'in a cluster: the node that serves it (a change moves it); empty outside one'));

  // Framing.
  const reqFramingIn = select({}, FRAMINGS, '');
  const respFramingIn = select({}, FRAMINGS, '');
  const byteOrderIn = select({}, BYTE_ORDERS, '');
  const framing = section('listener.framing', 'Framing',
    field('listener.framing.request', 'Requests', reqFramingIn),
    field('listener.framing.response', 'Responses', respFramingIn),
    field('listener.framing.byteOrder', 'Byte order of lengths', byteOrderIn));

  // Limits.
  const lim = {
    maxConnections: number('1024'),
    maxHeaderBytes: number('16384'),
    maxBodyBytes: number('4194304 (4 MiB)'),
    headerTimeout: text('10s'),
    idleTimeout: text('5m; 0s: never'),
  };
  const largerIn = h('input', {type: 'checkbox'});
  const limits = section('listener.limits', 'Limits',
    field('listener.limits.maxConnections', 'Max connections', lim.maxConnections),
    field('listener.limits.maxHeaderBytes', 'Max header bytes', lim.maxHeaderBytes),
    field('listener.limits.maxBodyBytes', 'Max body bytes', lim.maxBodyBytes, 'at most 67108864 (64 MiB)'),
    field('listener.limits.headerTimeout', 'Header timeout', lim.headerTimeout, 'a frame must arrive within this'),
    field('listener.limits.idleTimeout', 'Idle timeout', lim.idleTimeout),
    field('listener.limits.allowLargerDatagramReplies', 'Datagram replies larger than requests', largerIn));

  // Capture.
  const capFramesIn = number('0: off (1000 with record)');
  const capBytesIn = number('4096');
  const capture = section('listener.capture', 'Capture',
    field('listener.capture.maxFrames', 'Frames kept', capFramesIn),
    field('listener.capture.maxBytesPerFrame', 'Body bytes kept per frame', capBytesIn));

  // Exec.
  const ex = {
    allow: text('all of the daemon\'s --exec-allow'),
    timeout: text('5s'),
    maxOutputBytes: number('65536'),
    maxConcurrent: number('4'),
    workingDir: text('the daemon\'s'),
  };
  const exec = section('listener.exec', 'Exec',
    field('listener.exec.allow', 'Allowed programs', ex.allow, 'comma-separated, a subset of --exec-allow'),
    field('listener.exec.timeout', 'Timeout', ex.timeout),
    field('listener.exec.maxOutputBytes', 'Max output bytes', ex.maxOutputBytes),
    field('listener.exec.maxConcurrent', 'Max concurrent runs', ex.maxConcurrent),
    field('listener.exec.workingDir', 'Working directory', ex.workingDir));

  // Proxy.
  const px = {
    upstream: text('127.0.0.1:6379, or a socket path'),
    transport: select({}, [['', 'the listener\'s (default)'], ['TRANSPORT_TCP', 'TCP'], ['TRANSPORT_UNIX', 'Unix stream']], ''),
    connectTimeout: text('2s'),
    record: select({}, [['', 'off'], ['on', 'on']], ''),
    maxExchanges: number('1000'),
  };
  const proxySection = section('listener.proxy', 'Proxy',
    field('listener.proxy.upstream', 'Upstream', px.upstream, 'the real server each connection is relayed to'),
    field('listener.proxy.transport', 'Upstream transport', px.transport),
    field('listener.proxy.connectTimeout', 'Connect timeout', px.connectTimeout),
    field('listener.proxy.record', 'Record', px.record, 'keep the exchanges, for GET …/recording'),
    field('listener.proxy.record.maxExchanges', 'Exchanges kept', px.maxExchanges));

  // Script.
  const scriptIn = h('textarea', {rows: '9', spellcheck: 'false', placeholder: SCRIPT_EXAMPLE, class: 'code'});
  const script = section('listener.script', 'Script',
    h('div', {class: 'wide'}, field('listener.script', 'Script (JSON: greeting, rules[{match, reply}], default)', scriptIn,
      'match: bodyEquals, bodyPrefix, bodyContains, bodyRegex, bodyBase64, header; reply: body, bodyBase64, echo, header, delay, noReply, then')));

  // Faults.
  const faultRows = h('div', {class: 'fault-rows'});
  const faultKindIn = select({'aria-label': 'kind of fault to add', class: 'fault-kind'}, Object.keys(FAULT_KINDS).map((k) => [k, k]), 'latency');
  const faultSeedIn = number('random');
  const faultRowList = [];
  const faults = h('fieldset', {class: 'section', dataset: {field: 'listener.faults'}},
    h('legend', null, 'Faults'),
    faultRows,
    h('div', {class: 'fault-add'},
      faultKindIn,
      button('Add fault', () => addFault({[faultKindIn.value]: {}}), {class: 'add-fault'})),
    h('p', {class: 'field-error section-error', dataset: {for: 'listener.faults'}, role: 'alert'}),
    h('div', {class: 'grid'}, field('listener.faultSeed', 'Fault seed', faultSeedIn, 'the same seed makes the same random choices')));

  function reindexFaults() {
    faultRowList.forEach((row, i) => row.setIndex(i));
  }

  function addFault(spec) {
    const kind = Object.keys(FAULT_KINDS).find((k) => spec[k] !== undefined) || 'drop';
    const params = spec[kind] || {};
    const nameIn = text(kind + '-N (default)');
    const probIn = text('1', {inputmode: 'decimal'});
    const dirIn = select({}, DIRECTIONS, spec.direction || '');
    const matchIn = text('{"bodyContains": "x"} (default: every frame)', {class: 'code'});
    nameIn.value = spec.name || '';
    probIn.value = spec.probability === undefined ? '' : String(spec.probability);
    matchIn.value = spec.match && Object.keys(prune(spec.match)).length ? JSON.stringify(prune(spec.match)) : '';
    const paramInputs = {};
    const fieldsOf = {};
    const mk = (sub, label, control, hint) => {
      const f = field('', label, control, hint);
      fieldsOf[sub] = f;
      return f;
    };
    const paramFields = FAULT_KINDS[kind].map(([name, type, placeholder]) => {
      const input = type === 'duration' ? text(placeholder) : number(placeholder);
      const v = params[name];
      input.value = v === undefined || v === null ? '' : String(v);
      paramInputs[name] = {input, type};
      return mk(kind + '.' + name, name, input);
    });
    const remove = button('Remove', () => {
      const i = faultRowList.indexOf(row);
      if (i >= 0) faultRowList.splice(i, 1);
      rowEl.remove();
      reindexFaults();
    }, {class: 'ghost small remove-fault'});
    const title = h('span', {class: 'fault-title'});
    const rowErr = h('p', {class: 'field-error section-error', role: 'alert'});
    const rowEl = h('div', {class: 'fault-row', dataset: {kind}},
      h('div', {class: 'fault-head'}, title, remove),
      h('div', {class: 'grid'},
        mk('name', 'Name', nameIn),
        mk('probability', 'Probability', probIn, '0 to 1'),
        mk('direction', 'Direction', dirIn),
        paramFields,
        h('div', {class: 'wide'}, mk('match', 'Match (JSON)', matchIn))),
      rowErr);
    const row = {
      kind,
      el: rowEl,
      setIndex(i) {
        const base = 'listener.faults[' + i + ']';
        rowEl.dataset.field = base;
        rowErr.dataset.for = base;
        title.textContent = '#' + i + ' ' + kind;
        for (const [sub, f] of Object.entries(fieldsOf)) {
          const p = base + '.' + sub;
          f.dataset.field = p;
          f.querySelector('.field-error').dataset.for = p;
          const control = f.querySelector('input, select, textarea');
          control.name = p;
        }
      },
      collect(i, errs) {
        const base = 'listener.faults[' + i + ']';
        const out = {};
        if (nameIn.value.trim()) out.name = nameIn.value.trim();
        const pv = probIn.value.trim();
        if (pv) {
          const p = Number(pv);
          if (!Number.isFinite(p)) errs.push({field: base + '.probability', description: 'not a number'});
          else out.probability = p;
        }
        if (dirIn.value) out.direction = dirIn.value;
        const mv = matchIn.value.trim();
        if (mv) {
          const m = parseObject(mv);
          if (m.error) errs.push({field: base + '.match', description: m.error});
          else out.match = m.value;
        }
        const k = {};
        for (const [name, {input, type}] of Object.entries(paramInputs)) {
          const v = readValue(input.value, type, base + '.' + kind + '.' + name, errs);
          if (v !== undefined) k[name] = v;
        }
        out[kind] = k;
        return out;
      },
    };
    faultRowList.push(row);
    faultRows.appendChild(rowEl);
    reindexFaults();
    return row;
  }

  // TLS.
  const tlsModeIn = select({}, [['', 'off: plaintext'], ['self', 'self-signed certificate'], ['files', 'certificate files']], '');
  const tl = {
    certFile: text('/path/cert.pem'),
    keyFile: text('/path/key.pem'),
    clientCaFile: text('mutual TLS: CA of client certificates'),
    minVersion: select({}, [['', '1.2 (default)'], ['1.2', '1.2'], ['1.3', '1.3']], ''),
    alpn: text('e.g. h2, http/1.1'),
  };
  const fileFields = [
    field('listener.tls.certFile', 'Certificate file', tl.certFile),
    field('listener.tls.keyFile', 'Key file', tl.keyFile),
  ];
  const tlsOpts = [
    field('listener.tls.clientCaFile', 'Client CA file', tl.clientCaFile),
    field('listener.tls.minVersion', 'Minimum version', tl.minVersion),
    field('listener.tls.alpn', 'ALPN protocols', tl.alpn, 'comma-separated, in order of preference'),
  ];
  const tls = section('listener.tls', 'TLS',
    field('listener.tls.selfSigned', 'Mode', tlsModeIn, 'TCP and Unix stream transports'),
    fileFields, tlsOpts);

  // Labels and TTL.
  const labelsIn = h('textarea', {rows: '3', spellcheck: 'false', placeholder: 'env=ci\nteam=web', class: 'code'});
  const ttlIn = text(editing ? 'a new ttl extends it, e.g. 1h' : 'none: kept until deleted; e.g. 30m');
  const expiry = h('small', {class: 'hint'});
  const labelsTTL = section('listener.labels', 'Labels and lifetime',
    field('listener.labels', 'Labels (key=value, one a line)', labelsIn),
    h('div', null, field('listener.ttl', 'TTL', ttlIn, 'deleted this long after the call'), expiry));

  // Buttons.
  const submit = h('button', {type: 'submit', class: 'primary', id: editing ? 'edit-submit' : 'create-submit'}, editing ? 'Save changes' : 'Create listener');
  const buttons = h('div', {class: 'buttons'}, submit,
    onCancel ? button('Cancel', onCancel, {class: 'ghost', id: editing ? 'edit-cancel' : 'create-cancel'}) : null);
  form.append(formError, basics, framing, limits, capture, exec, script, proxySection, faults, tls, labelsTTL, buttons);

  // Which sections show: exec and script with their handlers, TLS and
  // the Unix mode with their transports.
  const unixTransports = ['TRANSPORT_UNIX', 'TRANSPORT_UNIXGRAM'];
  function updateVisibility() {
    const t = transportIn.value;
    const hd = handlerIn.value;
    exec.hidden = hd !== 'HANDLER_EXEC';
    script.hidden = hd !== 'HANDLER_SCRIPT';
    proxySection.hidden = hd !== 'HANDLER_PROXY';
    tls.hidden = !(t === 'TRANSPORT_TCP' || t === 'TRANSPORT_UNIX');
    unixModeField.hidden = !unixTransports.includes(t);
    const files = tlsModeIn.value === 'files';
    for (const f of fileFields) f.hidden = !files;
    for (const f of tlsOpts) f.hidden = tlsModeIn.value === '';
    addressIn.placeholder = unixTransports.includes(t) ? '/tmp/sockplane.sock, or @abstract-name' : '127.0.0.1:0 (port 0: any free port)';
  }
  transportIn.addEventListener('change', updateVisibility);
  handlerIn.addEventListener('change', updateVisibility);
  tlsModeIn.addEventListener('change', updateVisibility);

  // fill puts a listener's spec into the inputs (edit mode).
  function fill(l) {
    idIn.value = l.id || '';
    transportIn.value = l.transport || 'TRANSPORT_TCP';
    addressIn.value = l.address || '';
    handlerIn.value = l.handler || '';
    nodeIn.value = l.node || '';
    unixModeIn.value = l.unixMode || '';
    const fr = l.framing || {};
    reqFramingIn.value = fr.request || '';
    respFramingIn.value = fr.response || '';
    byteOrderIn.value = fr.byteOrder || '';
    const li = l.limits || {};
    for (const [k, input] of Object.entries(lim)) input.value = li[k] === undefined ? '' : String(li[k]);
    largerIn.checked = Boolean(li.allowLargerDatagramReplies);
    const ca = l.capture || {};
    capFramesIn.value = ca.maxFrames === undefined ? '' : String(ca.maxFrames);
    capBytesIn.value = ca.maxBytesPerFrame === undefined ? '' : String(ca.maxBytesPerFrame);
    const e = l.exec || {};
    ex.allow.value = (e.allow || []).join(', ');
    ex.timeout.value = e.timeout || '';
    ex.maxOutputBytes.value = e.maxOutputBytes === undefined ? '' : String(e.maxOutputBytes);
    ex.maxConcurrent.value = e.maxConcurrent === undefined ? '' : String(e.maxConcurrent);
    ex.workingDir.value = e.workingDir || '';
    scriptIn.value = l.script ? JSON.stringify(prune(l.script), null, 2) : '';
    const p = l.proxy || {};
    px.upstream.value = p.upstream || '';
    px.transport.value = p.transport || '';
    px.connectTimeout.value = p.connectTimeout || '';
    px.record.value = p.record ? 'on' : '';
    px.maxExchanges.value = p.record && p.record.maxExchanges !== undefined ? String(p.record.maxExchanges) : '';
    for (const row of faultRowList.splice(0)) row.el.remove();
    for (const f of l.faults || []) addFault(f);
    faultSeedIn.value = l.faultSeed === undefined ? '' : String(l.faultSeed);
    const t = l.tls || {};
    tlsModeIn.value = t.selfSigned ? 'self' : (t.certFile || t.keyFile ? 'files' : '');
    tl.certFile.value = t.certFile || '';
    tl.keyFile.value = t.keyFile || '';
    tl.clientCaFile.value = t.clientCaFile || '';
    tl.minVersion.value = t.minVersion || '';
    tl.alpn.value = (t.alpn || []).join(', ');
    labelsIn.value = labelList(l.labels).join('\n');
    expiry.textContent = l.expireTime ? 'expires at ' + new Date(l.expireTime).toLocaleString() : '';
    updateVisibility();
  }

  // collect reads the inputs into a Listener, with the errors found
  // before asking the API (not a number, not a duration, bad JSON).
  function collect() {
    const errs = [];
    const l = {};
    const str = (v) => v.trim();
    if (!editing && str(idIn.value)) l.id = str(idIn.value);
    l.transport = transportIn.value;
    if (str(addressIn.value)) l.address = str(addressIn.value);
    if (handlerIn.value) l.handler = handlerIn.value;
    if (!unixModeField.hidden && str(unixModeIn.value)) l.unixMode = str(unixModeIn.value);
    if (str(nodeIn.value)) l.node = str(nodeIn.value);
    const fr = {};
    if (reqFramingIn.value) fr.request = reqFramingIn.value;
    if (respFramingIn.value) fr.response = respFramingIn.value;
    if (byteOrderIn.value) fr.byteOrder = byteOrderIn.value;
    if (Object.keys(fr).length) l.framing = fr;
    const li = {};
    for (const k of ['maxConnections', 'maxHeaderBytes', 'maxBodyBytes']) {
      const v = readValue(lim[k].value, 'uint', 'listener.limits.' + k, errs);
      if (v !== undefined) li[k] = v;
    }
    for (const k of ['headerTimeout', 'idleTimeout']) {
      const v = readValue(lim[k].value, 'duration', 'listener.limits.' + k, errs);
      if (v !== undefined) li[k] = v;
    }
    if (largerIn.checked) li.allowLargerDatagramReplies = true;
    if (Object.keys(li).length) l.limits = li;
    const ca = {};
    const mf = readValue(capFramesIn.value, 'uint', 'listener.capture.maxFrames', errs);
    if (mf !== undefined) ca.maxFrames = mf;
    const mb = readValue(capBytesIn.value, 'uint', 'listener.capture.maxBytesPerFrame', errs);
    if (mb !== undefined) ca.maxBytesPerFrame = mb;
    if (Object.keys(ca).length) l.capture = ca;
    if (!exec.hidden) {
      const e = {};
      const allow = splitList(ex.allow.value);
      if (allow.length) e.allow = allow;
      const t = readValue(ex.timeout.value, 'duration', 'listener.exec.timeout', errs);
      if (t !== undefined) e.timeout = t;
      for (const k of ['maxOutputBytes', 'maxConcurrent']) {
        const v = readValue(ex[k].value, 'uint', 'listener.exec.' + k, errs);
        if (v !== undefined) e[k] = v;
      }
      if (str(ex.workingDir.value)) e.workingDir = str(ex.workingDir.value);
      if (Object.keys(e).length) l.exec = e;
    }
    if (!proxySection.hidden) {
      const p = {};
      if (str(px.upstream.value)) p.upstream = str(px.upstream.value);
      if (px.transport.value) p.transport = px.transport.value;
      const ct = readValue(px.connectTimeout.value, 'duration', 'listener.proxy.connectTimeout', errs);
      if (ct !== undefined) p.connectTimeout = ct;
      const max = readValue(px.maxExchanges.value, 'uint', 'listener.proxy.record.maxExchanges', errs);
      if (px.record.value === 'on' || max !== undefined) p.record = max === undefined ? {} : {maxExchanges: max};
      l.proxy = p;
    }
    if (!script.hidden && str(scriptIn.value)) {
      const sc = parseObject(scriptIn.value);
      if (sc.error) errs.push({field: 'listener.script', description: sc.error});
      else l.script = sc.value;
    }
    const fl = faultRowList.map((row, i) => row.collect(i, errs));
    if (fl.length) l.faults = fl;
    const seed = readValue(faultSeedIn.value, 'uint', 'listener.faultSeed', errs);
    if (seed !== undefined) l.faultSeed = seed;
    if (!tls.hidden && tlsModeIn.value) {
      const t = {};
      if (tlsModeIn.value === 'self') t.selfSigned = true;
      else {
        if (str(tl.certFile.value)) t.certFile = str(tl.certFile.value);
        if (str(tl.keyFile.value)) t.keyFile = str(tl.keyFile.value);
      }
      if (str(tl.clientCaFile.value)) t.clientCaFile = str(tl.clientCaFile.value);
      if (tl.minVersion.value) t.minVersion = tl.minVersion.value;
      const alpn = splitList(tl.alpn.value);
      if (alpn.length) t.alpn = alpn;
      l.tls = t;
    }
    const labels = parseLabels(labelsIn.value, errs);
    if (labels && Object.keys(labels).length) l.labels = labels;
    else if (editing) l.labels = {};
    const ttl = readValue(ttlIn.value, 'duration', 'listener.ttl', errs);
    if (ttl !== undefined) l.ttl = ttl;
    return {listener: l, errs};
  }

  // Errors.
  function clearErrors() {
    formError.textContent = '';
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const el of form.querySelectorAll('.invalid')) el.classList.remove('invalid');
  }

  // place shows description next to the field path names, or the
  // nearest field that holds it. It returns whether a field took it.
  function place(path, description) {
    for (let p = path; p; p = parentPath(p)) {
      const holder = form.querySelector('[data-field="' + CSS.escape(p) + '"]');
      if (!holder || holder.closest('[hidden]')) continue;
      const err = holder.querySelector('.field-error[data-for="' + CSS.escape(p) + '"]');
      if (!err) continue;
      const line = p === path ? description : path + ': ' + description;
      err.textContent = err.textContent ? err.textContent + '\n' + line : line;
      holder.classList.add('invalid');
      const control = holder.matches('.field') ? holder.querySelector('input, select, textarea') : null;
      if (control) control.setAttribute('aria-invalid', 'true');
      return true;
    }
    return false;
  }

  function showErrors(list, general) {
    clearErrors();
    let first = null;
    const unplaced = [];
    for (const v of list) {
      if (place(v.field, v.description)) {
        first = first || form.querySelector('.invalid');
      } else {
        unplaced.push(v.field + ': ' + v.description);
      }
    }
    const lines = [];
    if (general) lines.push(general);
    lines.push(...unplaced);
    formError.textContent = lines.join('\n');
    const target = first || formError;
    if (target.scrollIntoView) target.scrollIntoView({block: 'center'});
  }

  // violationsOf: the field violations of an API error; an error with
  // none whose message starts with a field's path ("limits.headerTimeout:
  // ...", as a body that does not decode says) names that field; a bind
  // failure names the address.
  function violationsOf(err) {
    const list = err.fieldViolations;
    if (list.length) return list;
    const m = /^([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*|\[\d+\])*): /.exec(err.message);
    if (m) return [{field: 'listener.' + m[1], description: err.message.slice(m[0].length)}];
    if (/\bbind\b|address already in use/.test(err.message)) return [{field: 'listener.address', description: err.message}];
    if (err.status === 409 && !editing && /exist/.test(err.message)) return [{field: 'listener.id', description: err.message}];
    return [];
  }

  let initial = null;
  if (editing) {
    fill(listener);
    initial = collect().listener;
  } else {
    updateVisibility();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const {listener: l, errs} = collect();
    if (errs.length) {
      showErrors(errs, 'Fix the fields marked below.');
      return;
    }
    let body = l;
    let mask = null;
    if (editing) {
      mask = changedFields(initial, l);
      if (!mask.length) {
        showErrors([], 'Nothing changed.');
        return;
      }
      body = {};
      for (const k of mask) if (l[k] !== undefined) body[k] = l[k];
      if (listener.etag) body.etag = listener.etag;
    }
    submit.disabled = true;
    try {
      const done = editing ? await calls.update(listener.id, body, mask) : await calls.create(body);
      clearErrors();
      if (onDone) onDone(done);
    } catch (err) {
      if (err instanceof ApiError) {
        const hint = err.status === 409 && editing ? ' (reload the page to edit the listener as it is now)' : '';
        showErrors(violationsOf(err), 'The API refused: ' + err.message + hint);
      } else {
        showErrors([], 'The call failed: ' + (err && err.message ? err.message : String(err)));
      }
    } finally {
      submit.disabled = false;
    }
  });

  return {
    el: form,
    focus: () => (editing ? addressIn : idIn).focus(),
    reset() {
      clearErrors();
      form.reset();
      for (const row of faultRowList.splice(0)) row.el.remove();
      updateVisibility();
    },
  };
}

// changedFields are the top-level fields whose value differs between two
// collected listeners, in JSON names, as ?updateMask= takes them. A field
// left empty that had a value is in the mask and absent from the body:
// back to its default.
export function changedFields(before, after) {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out = [];
  for (const k of keys) {
    if (k === 'id' || k === 'etag') continue;
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out.push(k);
  }
  return out.sort();
}

// readValue reads one input: undefined when empty; a number ("uint"), a
// decimal string ("uint64", which JSON numbers cannot always hold) or a
// duration string. A value that is none of these is an error for path.
function readValue(raw, type, path, errs) {
  const v = String(raw).trim();
  if (!v) return undefined;
  if (type === 'duration') {
    if (!durationOK(v)) {
      errs.push({field: path, description: '"' + v + '" is not a duration: write e.g. 200ms, 30s, 5m, 1h30m'});
      return undefined;
    }
    return v;
  }
  if (!/^\d+$/.test(v)) {
    errs.push({field: path, description: '"' + v + '" is not a whole number'});
    return undefined;
  }
  if (type === 'uint64') return v;
  const n = Number(v);
  if (n > 4294967295) {
    errs.push({field: path, description: v + ' is over 4294967295'});
    return undefined;
  }
  return n;
}

function splitList(v) {
  return String(v).split(',').map((x) => x.trim()).filter(Boolean);
}

function parseObject(text) {
  try {
    const v = JSON.parse(text);
    if (!v || typeof v !== 'object' || Array.isArray(v)) return {error: 'must be a JSON object, {...}'};
    return {value: v};
  } catch (err) {
    return {error: 'not JSON: ' + err.message};
  }
}

// parseLabels reads "key=value" (or "key", an empty value) per line or
// comma; the API checks the syntax of keys and values.
function parseLabels(text, errs) {
  const out = {};
  for (const part of String(text).split(/[\n,]/)) {
    const item = part.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    const k = (eq < 0 ? item : item.slice(0, eq)).trim();
    const v = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (!k) {
      errs.push({field: 'listener.labels', description: '"' + item + '" has no key'});
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(out, k)) {
      errs.push({field: 'listener.labels', description: 'key "' + k + '" is given twice'});
      continue;
    }
    out[k] = v;
  }
  return out;
}
