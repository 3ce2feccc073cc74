// The panel's only way to the server: the client API to sign in, the Synapse-compatible
// and Citadel admin APIs for everything else. The access token lives in sessionStorage, so
// it ends with the tab and is never written to disk by the panel.

const KEY = 'citadel.admin.session';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `The server answered ${status}`);
    this.status = status;
    this.errcode = body && body.errcode;
    this.body = body;
  }
}

/** Facts about the server, filled in once signed in (`server_name`). */
export const server = {};

let onExpired = () => {};

/** Called when the server no longer accepts the token (signed out elsewhere, expired). */
export function whenExpired(handler) {
  onExpired = handler;
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

function save(value) {
  if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
  else sessionStorage.removeItem(KEY);
}

/** `api('GET', '/_synapse/admin/v2/users', {query: {from: 0}})`. */
export async function api(method, path, { body, query, auth = true } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null) params.set(k, String(v));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const headers = {};
  const current = session();
  if (auth && current) headers.Authorization = `Bearer ${current.access_token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (err) {
    throw new ApiError(0, { error: `Cannot reach the server: ${err.message}` });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 300) };
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (auth && current && response.status === 401 && error.errcode === 'M_UNKNOWN_TOKEN') {
      save(null);
      onExpired();
    }
    throw error;
  }
  return data || {};
}

/** `encodeURIComponent` for one path segment. */
export const seg = encodeURIComponent;

export async function signIn(user, password) {
  const login = await api('POST', '/_matrix/client/v3/login', {
    auth: false,
    body: {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user },
      password,
      initial_device_display_name: 'Citadel admin panel',
    },
  });
  save({ access_token: login.access_token, user_id: login.user_id, device_id: login.device_id });
  return login;
}

/** Ends the session on the server too; a token the server already dropped is fine. */
export async function signOut() {
  if (session()) {
    try {
      await api('POST', '/_matrix/client/v3/logout', { body: {} });
    } catch {
      // Signed out already, or the server is gone: the local session ends either way.
    }
  }
  save(null);
}

/** Polls `check` every `ms` until it returns a value other than undefined. */
export async function poll(check, ms = 700, tries = 600) {
  for (let i = 0; i < tries; i++) {
    const result = await check();
    if (result !== undefined) return result;
    await new Promise((r) => setTimeout(r, ms));
  }
  throw new Error('Gave up waiting for the server to finish');
}

/** `undefined` for an empty string, so an empty search box adds no query parameter. */
export const opt = (text) => (text ? text : undefined);
