import { isIP } from 'node:net';
import type { AllowedHost } from '../config/config';

/**
 * Checks a token URL against TOKEN_URL_ALLOWLIST. Returns the normalised URL,
 * or the reason it is refused. Host names are compared lower-cased without a
 * trailing dot, so case and trailing-dot variants neither slip through nor
 * get refused by accident; userinfo is refused outright, since
 * `https://allowed.host@other.host` names other.host.
 */
export function checkTokenUrl(raw: string, allowlist: AllowedHost[]): { url: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'tokenUrl must be an absolute URL' };
  }
  if (url.username || url.password) return { problem: 'tokenUrl must not contain a user name or password' };
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: 'tokenUrl must use https' };
  if (url.hash) return { problem: 'tokenUrl must not contain a fragment' };
  const hostname = url.hostname.toLowerCase().replace(/\.$/, '');
  const allowed = allowlist.some(
    (entry) =>
      entry.protocol === url.protocol && entry.hostname === hostname && (entry.port === null || entry.port === url.port),
  );
  if (!allowed) {
    return url.protocol === 'http:' && !allowlist.some((entry) => entry.protocol === 'http:' && entry.hostname === hostname)
      ? { problem: 'tokenUrl must use https' }
      : { problem: `tokenUrl host ${isIP(hostname.replace(/^\[|\]$/g, '')) ? 'address' : 'name'} is not in TOKEN_URL_ALLOWLIST` };
  }
  url.hostname = hostname;
  return { url: url.toString() };
}
