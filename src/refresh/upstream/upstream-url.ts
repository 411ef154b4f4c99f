import type { RejectedOutcome } from './upstream.types';

/** URL helpers shared by the client's request builders and its per-host guards. */

export function parseHttpUrl(value: string): URL | null {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : null;
  } catch {
    return null;
  }
}

export function invalidUrl(what: string): RejectedOutcome {
  return { kind: 'rejected', httpStatus: null, error: 'invalid_url', description: `${what} is not an http(s) URL` };
}

/** hostname:port, with the scheme's default port spelled out, so one host has one circuit. */
export function hostKeyOf(url: URL): string {
  return `${url.hostname}:${portOf(url)}`;
}

export function portOf(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}
