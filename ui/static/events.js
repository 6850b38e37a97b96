// The event stream: GET /v1/events is newline-delimited JSON, one Event
// per line, for as long as the request lasts. It is read with fetch and
// the body's ReadableStream (an EventSource cannot send the bearer
// header). One stream serves the whole page; views subscribe to it.

import {authHeaders, needToken, reasonOf401} from './api.js';

const listeners = new Set();
const RECENT = 300;
const recentEvents = []; // the newest RECENT events, oldest first
const statusListeners = new Set();
let status = 'starting';
let started = false;

// subscribe calls fn with each event; it returns the unsubscribe.
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// onStatus calls fn with 'connecting', 'live' or 'down: why'.
export function onStatus(fn) {
  statusListeners.add(fn);
  fn(status);
  return () => statusListeners.delete(fn);
}

function setStatus(s) {
  status = s;
  for (const fn of statusListeners) fn(s);
}

// recent returns the events seen since the page loaded (the newest
// RECENT), oldest first, so that a view opened later shows them too.
export function recent() {
  return recentEvents.slice();
}

function dispatch(event) {
  recentEvents.push(event);
  if (recentEvents.length > RECENT) recentEvents.shift();
  for (const fn of listeners) {
    try {
      fn(event);
    } catch (err) {
      console.error('event subscriber', err);
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// start runs the stream for the life of the page, reconnecting with a
// backoff (1 s, doubling to 15 s) when it ends or fails.
export function start() {
  if (started) return;
  started = true;
  run();
}

async function run() {
  let backoff = 1000;
  for (;;) {
    setStatus('connecting');
    try {
      const headers = {Accept: 'application/x-ndjson', ...authHeaders()};
      const res = await fetch('/v1/events', {headers, cache: 'no-store'});
      if (res.status === 401) {
        setStatus('down: needs a token');
        await needToken(reasonOf401(res, Boolean(headers.Authorization)));
        continue;
      }
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      setStatus('live');
      backoff = 1000;
      await readLines(res.body);
      setStatus('down: the stream ended');
    } catch (err) {
      setStatus('down: ' + (err && err.message ? err.message : String(err)));
    }
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 15000);
  }
}

async function readLines(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, {stream: true});
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) handleLine(line);
    }
  }
  const rest = (buffered + decoder.decode()).trim();
  if (rest) handleLine(rest);
}

function handleLine(line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  if (!msg || typeof msg !== 'object') return;
  if (msg.type === undefined && msg.message !== undefined && msg.code !== undefined) {
    // The error that ends a stream, in the shape of every error.
    throw new Error(String(msg.message));
  }
  dispatch(msg.event && typeof msg.event === 'object' ? msg.event : msg);
}
