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
  return checkAllowedUrl(raw, allowlist, { field: 'tokenUrl', variable: 'TOKEN_URL_ALLOWLIST' });
}

/**
 * The same check for any URL the broker calls out to with its own allowlist
 * (webhook receivers: `url` and WEBHOOK_URL_ALLOWLIST); `names` words the problem.
 */
export function checkAllowedUrl(
  raw: string,
  allowlist: AllowedHost[],
  names: { field: string; variable: string },
): { url: string } | { problem: string } {
  const { field, variable } = names;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: `${field} must be an absolute URL` };
  }
  if (url.username || url.password) return { problem: `${field} must not contain a user name or password` };
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: `${field} must use https` };
  if (url.hash) return { problem: `${field} must not contain a fragment` };
  const hostname = url.hostname.toLowerCase().replace(/\.$/, '');
  const allowed = allowlist.some(
    (entry) =>
      entry.protocol === url.protocol &&
      entry.hostname === hostname &&
      (entry.port === null || entry.port === url.port),
  );
  if (!allowed) {
    return url.protocol === 'http:' &&
      !allowlist.some((entry) => entry.protocol === 'http:' && entry.hostname === hostname)
      ? { problem: `${field} must use https` }
      : {
          problem: `${field} host ${isIP(hostname.replace(/^\[|\]$/g, '')) ? 'address' : 'name'} is not in ${variable}`,
        };
  }
  url.hostname = hostname;
  return { url: url.toString() };
}
