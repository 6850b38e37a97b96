// Formatting: enums, counters (64-bit ones are JSON strings), rates,
// times, and the bytes of frames as text and as a hex dump.

// short turns an enum value into its short name: TRANSPORT_TCP -> tcp.
export function short(value, prefix) {
  if (!value) return '';
  let v = String(value);
  if (prefix && v.startsWith(prefix)) v = v.slice(prefix.length);
  return v.toLowerCase().replace(/_/g, ' ');
}

export const enumLabel = {
  transport: (v) => short(v, 'TRANSPORT_'),
  handler: (v) => short(v, 'HANDLER_'),
  state: (v) => short(v, 'STATE_'),
  framing: (v) => short(v, 'FRAMING_'),
  direction: (v) => short(v, 'DIRECTION_'),
  event: (v) => short(v, 'EVENT_TYPE_'),
};

// num reads a counter: a number, or a decimal string for 64-bit ones.
export function num(v) {
  if (v === undefined || v === null || v === '') return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

const intFormat = new Intl.NumberFormat('en-US');

export function count(v) {
  return intFormat.format(num(v));
}

// bytes: 1536 -> "1.5 KiB".
export function bytes(v) {
  let n = num(v);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

// rate: per second, with one decimal under 10.
export function rate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  if (v < 10) return v.toFixed(1);
  if (v < 10000) return String(Math.round(v));
  return bytes(v).replace(' B', '');
}

export function byteRate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return bytes(v) + '/s';
}

// time: an RFC 3339 timestamp as local HH:MM:SS.mmm.
export function time(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
}

// dateTime: a timestamp as local date and time.
export function dateTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toLocaleString();
}

// ago: how long before now, roughly.
export function ago(ts) {
  if (!ts) return '';
  const t = new Date(ts).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 86400) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

// labels: {"env": "ci"} -> ["env=ci"].
export function labelList(labels) {
  if (!labels || typeof labels !== 'object') return [];
  return Object.keys(labels).sort().map((k) => (labels[k] === '' ? k : k + '=' + labels[k]));
}

// base64 <-> bytes, for frame bodies (protojson writes bytes as standard
// base64; it reads URL-safe too).
export function fromBase64(b64) {
  const bin = atob(String(b64 || '').replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(u8) {
  let bin = '';
  const chunk = 0x8000;
  for (let i = 0; i < u8.length; i += chunk) {
    bin += String.fromCharCode.apply(null, u8.subarray(i, i + chunk));
  }
  return btoa(bin);
}

export function utf8(text) {
  return new TextEncoder().encode(text);
}

// fromHex reads "48 65 6c" or "48656c" into bytes; null when it is not hex.
export function fromHex(text) {
  const clean = String(text).replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) return null;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

// asText shows bytes as text: UTF-8 where it decodes, with control
// characters (but newline and tab) written as \xNN so that nothing
// invisible hides in a body. The result goes into textContent.
export function asText(u8) {
  const text = new TextDecoder('utf-8', {fatal: false}).decode(u8);
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if ((c < 0x20 && c !== 0x0a && c !== 0x09) || c === 0x7f || (c >= 0x80 && c < 0xa0)) {
      out += '\\x' + c.toString(16).padStart(2, '0');
    } else {
      out += ch;
    }
  }
  return out;
}

// hexDump: 16 bytes a line, offset, hex, and the printable ASCII.
export function hexDump(u8) {
  const lines = [];
  for (let off = 0; off < u8.length; off += 16) {
    const row = u8.subarray(off, off + 16);
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      if (i < row.length) {
        hex += row[i].toString(16).padStart(2, '0') + ' ';
        ascii += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : '.';
      } else {
        hex += '   ';
      }
      if (i === 7) hex += ' ';
    }
    lines.push(off.toString(16).padStart(8, '0') + '  ' + hex + ' |' + ascii + '|');
  }
  return lines.join('\n');
}

// durationOK: a Go duration ("1h30m", "200ms", "0s") or protojson's
// seconds form ("1.5s"), as the API takes.
export function durationOK(text) {
  return /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text) || text === '0';
}
