// format.js turns the API's numbers into text: hashrates with units,
// satoshis in BTC, times as "3m ago", difficulties in short form. A value
// that is missing or not a number shows as a dash, never as NaN.

export const dash = '—';

export function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

const rateUnits = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s', 'ZH/s'];

// hashrate: 1234567 → "1.23 MH/s".
export function hashrate(hs) {
  if (!isNum(hs)) {
    return dash;
  }
  if (hs <= 0) {
    return '0 H/s';
  }
  let v = hs;
  let i = 0;
  while (v >= 999.5 && i < rateUnits.length - 1) {
    v /= 1000;
    i++;
  }
  return `${threeDigits(v)} ${rateUnits[i]}`;
}

// threeDigits keeps about three significant digits: 1.23, 12.3, 123.
function threeDigits(v) {
  if (v >= 100) {
    return v.toFixed(0);
  }
  if (v >= 10) {
    return v.toFixed(1);
  }
  return v.toFixed(2);
}

const siUnits = ['', 'k', 'M', 'G', 'T', 'P', 'E', 'Z'];

// difficulty: 113757508810853 → "113.8 T"; below 1 (regtest) in exponent
// form: 4.656542373906925e-10 → "4.66e-10".
export function difficulty(d) {
  if (!isNum(d)) {
    return dash;
  }
  if (d === 0) {
    return '0';
  }
  if (Math.abs(d) < 1) {
    return d.toPrecision(3);
  }
  let v = d;
  let i = 0;
  while (v >= 999.5 && i < siUnits.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? threeDigits(v) : `${threeDigits(v)} ${siUnits[i]}`;
}

// count: 1234567 → "1,234,567".
export function count(n) {
  return isNum(n) ? n.toLocaleString('en-US') : dash;
}

// btc: satoshis as BTC with all eight decimals, exactly (no float rounding
// of the fraction): 123456789 → "1.23456789 BTC".
export function btc(sats) {
  if (!isNum(sats) || !Number.isInteger(sats)) {
    return dash;
  }
  const sign = sats < 0 ? '-' : '';
  const abs = Math.abs(sats);
  const whole = Math.floor(abs / 1e8);
  const frac = String(abs % 1e8).padStart(8, '0');
  return `${sign}${whole.toLocaleString('en-US')}.${frac} BTC`;
}

// percent: a fraction (0.0123) as "1.23 %".
export function percent(fraction) {
  if (!isNum(fraction)) {
    return dash;
  }
  const p = fraction * 100;
  return `${p === 0 ? '0' : p < 10 ? p.toFixed(2) : p.toFixed(1)} %`;
}

// ratio: part / whole as a percentage, or a dash when whole is 0.
export function ratio(part, whole) {
  return isNum(part) && isNum(whole) && whole > 0 ? percent(part / whole) : dash;
}

// parseTime is the time in ms since the epoch, or NaN.
export function parseTime(s) {
  return typeof s === 'string' ? Date.parse(s) : NaN;
}

// ago: an RFC 3339 time as "now", "42s ago", "3m ago", "5h ago", "2d ago".
// A time a little ahead of this browser's clock is "now".
export function ago(s, now = Date.now()) {
  const t = parseTime(s);
  if (!Number.isFinite(t)) {
    return dash;
  }
  const sec = Math.floor((now - t) / 1000);
  if (sec < 5) {
    return 'now';
  }
  if (sec < 60) {
    return `${sec}s ago`;
  }
  if (sec < 3600) {
    return `${Math.floor(sec / 60)}m ago`;
  }
  if (sec < 86400) {
    return `${Math.floor(sec / 3600)}h ago`;
  }
  return `${Math.floor(sec / 86400)}d ago`;
}

// exactTime: the time in this browser's zone, for a title.
export function exactTime(s) {
  const t = parseTime(s);
  return Number.isFinite(t) ? new Date(t).toString() : null;
}

// short: a long hash or address cut in the middle: "00000000ab…34cd12".
export function short(s, head = 10, tail = 6) {
  if (typeof s !== 'string') {
    return dash;
  }
  return s.length <= head + tail + 1 ? s : `${s.slice(0, head)}…${s.slice(-tail)}`;
}

// text: a string from the API, or a dash.
export function text(s) {
  return typeof s === 'string' && s !== '' ? s : dash;
}
