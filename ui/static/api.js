// The REST API, as any other client calls it: JSON bodies with
// Content-Type: application/json, the bearer token when there is one,
// and the API's errors ({"code", "message", "details"}) as ApiError.

const TOKEN_KEY = 'sockplane.token';

// The token lives in this tab's sessionStorage only.
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage refused (private mode): the token is then asked again per page
  }
}

// authHeaders are the headers every call carries.
export function authHeaders() {
  const headers = {};
  const token = getToken();
  if (token) headers.Authorization = 'Bearer ' + token;
  return headers;
}

// ApiError is an error answer of the API.
export class ApiError extends Error {
  constructor(status, body, fallback) {
    const message = (body && typeof body.message === 'string' && body.message) || fallback || ('HTTP ' + status);
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body && typeof body.code === 'number' ? body.code : 0;
    this.details = body && Array.isArray(body.details) ? body.details : [];
  }

  // fieldViolations are those of google.rpc.BadRequest details:
  // [{field: 'listener.limits.maxBodyBytes', description: '...'}].
  get fieldViolations() {
    const out = [];
    for (const d of this.details) {
      if (d && Array.isArray(d.fieldViolations)) {
        for (const v of d.fieldViolations) {
          if (v && typeof v.field === 'string') out.push({field: v.field, description: String(v.description || '')});
        }
      }
    }
    return out;
  }
}

// The token prompt: app.js registers it; while it is open, every call
// that got 401 waits for the same answer, then retries.
let promptToken = null;
let pendingPrompt = null;

export function onTokenNeeded(fn) {
  promptToken = fn;
}

// needToken shows the prompt (once, however many calls wait) and
// resolves when a new token is stored.
export function needToken(reason) {
  if (!promptToken) return Promise.reject(new Error('the API needs a token'));
  if (!pendingPrompt) {
    pendingPrompt = Promise.resolve(promptToken(reason)).finally(() => {
      pendingPrompt = null;
    });
  }
  return pendingPrompt;
}

// reasonOf401 says why the token was refused, from the challenge.
export function reasonOf401(res, hadToken) {
  const challenge = res.headers.get('WWW-Authenticate') || '';
  if (hadToken && challenge.includes('invalid_token')) return 'The API refused that token.';
  if (hadToken) return 'The API refused the token.';
  return 'The API answered 401: it needs a token.';
}

function urlOf(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? path + '?' + qs : path;
}

// api calls the REST API and returns the decoded JSON reply, or throws
// ApiError. A 401 shows the token prompt and retries with the new token.
export async function api(method, path, {body, query, signal} = {}) {
  for (;;) {
    const headers = {Accept: 'application/json', ...authHeaders()};
    const init = {method, headers, signal, cache: 'no-store', credentials: 'same-origin', redirect: 'error'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const hadToken = Boolean(headers.Authorization);
    const res = await fetch(urlOf(path, query), init);
    if (res.status === 401) {
      await needToken(reasonOf401(res, hadToken));
      continue;
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        if (!res.ok) throw new ApiError(res.status, null, 'HTTP ' + res.status + ': ' + text.slice(0, 300));
        throw new ApiError(res.status, null, 'the reply is not JSON');
      }
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data || {};
  }
}

// Paths of the API, with ids escaped.
export const paths = {
  listeners: () => '/v1/listeners',
  listener: (id) => '/v1/listeners/' + encodeURIComponent(id),
  stop: (id) => '/v1/listeners/' + encodeURIComponent(id) + ':stop',
  start: (id) => '/v1/listeners/' + encodeURIComponent(id) + ':start',
  connections: (id) => '/v1/listeners/' + encodeURIComponent(id) + '/connections',
  connection: (id, cid) => '/v1/listeners/' + encodeURIComponent(id) + '/connections/' + encodeURIComponent(cid),
  send: (id, cid) => '/v1/listeners/' + encodeURIComponent(id) + '/connections/' + encodeURIComponent(cid) + ':send',
  frames: (id) => '/v1/listeners/' + encodeURIComponent(id) + '/frames',
};

// The calls the pages make.
export const calls = {
  list: (query, signal) => api('GET', paths.listeners(), {query, signal}),
  get: (id, signal) => api('GET', paths.listener(id), {signal}),
  create: (listener) => api('POST', paths.listeners(), {body: listener}),
  update: (id, listener, mask) => api('PATCH', paths.listener(id), {body: listener, query: {updateMask: mask.join(',')}}),
  stop: (id, mode, drainTimeout) => api('POST', paths.stop(id), {body: stopBody(mode, drainTimeout)}),
  start: (id) => api('POST', paths.start(id), {body: {}}),
  remove: (id, mode, drainTimeout) => api('DELETE', paths.listener(id), {query: {mode, drainTimeout}}),
  connections: (id, signal) => api('GET', paths.connections(id), {signal}),
  closeConnection: (id, cid) => api('DELETE', paths.connection(id, cid)),
  send: (id, cid, body64, header) => api('POST', paths.send(id, cid), {body: header ? {body: body64, header} : {body: body64}}),
  frames: (id, signal) => api('GET', paths.frames(id), {signal}),
};

function stopBody(mode, drainTimeout) {
  const body = {};
  if (mode) body.mode = mode;
  if (drainTimeout) body.drainTimeout = drainTimeout;
  return body;
}
