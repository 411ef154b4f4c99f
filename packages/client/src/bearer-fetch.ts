/** Helpers for sending a request with a bearer token and replaying it once. */

/** A body that can be sent a second time as it is. Streams and async iterables are read by the first send. */
export function isReplayableBody(body: unknown): boolean {
  if (body === undefined || body === null || typeof body === 'string') return true;
  if (typeof (body as { getReader?: unknown }).getReader === 'function') return false;
  return typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function';
}

/** init with its Authorization header set to the token; the caller's init is left as it was. */
export function withBearer(init: RequestInit | undefined, token: string): RequestInit {
  const headers = new Headers(init?.headers);
  headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

/** An error a client library throws for a 401 answer (`statusCode` in @pipedream/sdk, `status` elsewhere). */
export function isUnauthorized(error: unknown): boolean {
  const { statusCode, status } = (error ?? {}) as { statusCode?: unknown; status?: unknown };
  return statusCode === 401 || status === 401;
}

/** Releases a response's body that nobody will read, so its connection goes back to the pool. */
export async function discardBody(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // Already read or torn down: nothing to release.
  }
}
