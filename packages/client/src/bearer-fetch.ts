/** Helpers for sending a request with a bearer token and replaying it once. */

/** A body that can be sent a second time as it is. Streams and async iterables are read by the first send. */
export function isReplayableBody(body: unknown): boolean {
  if (body === undefined || body === null || typeof body === 'string') return true;
  if (typeof (body as { getReader?: unknown }).getReader === 'function') return false;
  return typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function';
}

/** init with the request's headers and Authorization set to the token; the caller's init is left as it was. */
export function withBearer(input: unknown, init: RequestInit | undefined, token: string): RequestInit {
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

/** The bearer token of a request about to be sent; null when it carries none. */
export function bearerOf(input: unknown, init: RequestInit | undefined): string | null {
  const fromInit = init?.headers === undefined ? null : new Headers(init.headers).get('authorization');
  const header = fromInit ?? (input instanceof Request ? input.headers.get('authorization') : null);
  const match = header === null ? null : /^Bearer\s+(\S+)$/i.exec(header);
  return match === null ? null : match[1];
}

/** Releases a response's body that nobody will read, so its connection goes back to the pool. */
export async function discardBody(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // Already read or torn down: nothing to release.
  }
}
