// api.js reads the pool's public JSON API (docs/api.md) from the origin
// that served the page.

// ApiError is a failed call: status is the HTTP status (0 when the API
// could not be reached), message what to tell the user (the API's own
// "error" text when it sent one), field the input it names, if any.
export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.field = field || null;
  }
}

const base = '/api/v1';
const series = 'window=24h&step=10m';

export const paths = {
  pool: () => `${base}/pool`,
  poolHashrate: () => `${base}/pool/hashrate?${series}`,
  blocks: (limit) => `${base}/blocks?limit=${limit}`,
  account: (address) => `${base}/accounts/${encodeURIComponent(address)}`,
  accountHashrate: (address) => `${base}/accounts/${encodeURIComponent(address)}/hashrate?${series}`,
};

// getJSON fetches path and returns its JSON object, or throws an ApiError
// that can be shown as it is. An AbortError from signal goes through.
export async function getJSON(path, signal) {
  let res;
  try {
    res = await fetch(path, {headers: {Accept: 'application/json'}, cache: 'no-store', signal});
  } catch (err) {
    if (err.name === 'AbortError') {
      throw err;
    }
    throw new ApiError(0, `cannot reach the pool's API (${err.message})`);
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    if (body && typeof body.error === 'string' && body.error !== '') {
      throw new ApiError(res.status, body.error, body.field);
    }
    throw new ApiError(res.status, `the pool's API answered ${res.status} ${res.statusText}`.trim());
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(res.status, `the pool's API sent something other than a JSON object for ${path}`);
  }
  return body;
}
