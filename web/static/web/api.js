// The REST API on this origin, with the bearer token kept for this tab only.
const KEY = "vioip.auth";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `Request failed (${status}).`);
    this.status = status;
    this.body = body || {};
  }
}

export const auth = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const current = auth.get();
  if (current && current.token) headers.Authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, { code: "network", detail: "The server cannot be reached. Check your connection and try again." });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && current && path !== "auth/login/") onUnauthorized(error);
    throw error;
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);

// Every page of a paginated list (small lists: a week's sessions, one's records).
export async function all(path) {
  const results = [];
  let page = 1;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const data = await get(`${path}${sep}page=${page}&page_size=200`);
    results.push(...data.results);
    if (!data.next) return results;
    page += 1;
  }
}
