// The pages' API client: JSON in and out, the bearer token, an Idempotency-Key where given;
// a refused request throws an Error carrying the API's stable `code`, the HTTP `status` and the
// envelope's `details` (a wrong payment PIN's tries left, a lock's end).

/** @param {() => string | null} tokenOf the current token (pages may sign in later) */
export function apiClient(tokenOf) {
  /** `cache`: a fetch cache mode, for answers the server lets browsers keep (an entitlement check). */
  return async function api(method, path, body, idempotencyKey, { cache } = {}) {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    const token = tokenOf();
    if (token) headers.authorization = `Bearer ${token}`;
    if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      ...(cache ? { cache } : {}),
    });
    const data = res.status === 204 ? null : await res.json();
    if (!res.ok) {
      const message = data?.error?.message ?? res.statusText;
      throw Object.assign(new Error(message), {
        code: data?.error?.code,
        status: res.status,
        details: data?.error?.details,
      });
    }
    return data;
  };
}

/** The user id a token names (its `sub`), or null; the page only displays it. */
export function subjectOf(jwt) {
  try {
    return JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    return null;
  }
}
