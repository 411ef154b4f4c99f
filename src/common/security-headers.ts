import type { FastifyReply } from 'fastify';

/**
 * The one place answers get their headers: the security headers, and no
 * caching unless a route chose otherwise (answers carry tokens and secrets).
 * Fastify's answers get them from `setAnswerHeaders`, the token route's
 * answers from memory from `rawJsonAnswerHeaders`, and the HTTP parser's
 * refusals, written to the socket by hand, from `jsonAnswerHeaderRecord`.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
};
const CACHE_CONTROL = 'cache-control';
const NO_STORE = 'no-store';

/** For a Fastify reply: the onSend hook, and the router's own refusals, which skip it. */
export function setAnswerHeaders(reply: FastifyReply): FastifyReply {
  reply.headers(SECURITY_HEADERS);
  return reply.hasHeader(CACHE_CONTROL) ? reply : reply.header(CACHE_CONTROL, NO_STORE);
}

const RAW_JSON_HEADERS: readonly string[] = [
  ...Object.entries(SECURITY_HEADERS).flat(),
  CACHE_CONTROL,
  NO_STORE,
  'content-type',
  'application/json; charset=utf-8',
];
/** By body length: token bodies come in a handful of lengths, so each array is built once. */
const rawHeadersByLength = new Map<number, string[]>();

/** The same headers as node:http's writeHead takes them, for a JSON body of `length` bytes. */
export function rawJsonAnswerHeaders(length: number): string[] {
  let headers = rawHeadersByLength.get(length);
  if (headers === undefined) {
    headers = [...RAW_JSON_HEADERS, 'content-length', String(length)];
    // A bound that real token lengths never reach; past it (a hostile upstream's odd sizes) start over.
    if (rawHeadersByLength.size >= 1_000) rawHeadersByLength.clear();
    rawHeadersByLength.set(length, headers);
  }
  return headers;
}

/** The same headers as a plain record, for a JSON answer of `length` bytes written to a socket by hand. */
export function jsonAnswerHeaderRecord(length: number): Record<string, string> {
  return {
    ...SECURITY_HEADERS,
    [CACHE_CONTROL]: NO_STORE,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(length),
  };
}
