import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import type { Response } from 'supertest';
import { joinedChunks } from '../support/client-hash';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** One route as the running server knows it: a method and Fastify's path pattern (`:id`, `*`). */
export interface LiveRoute {
  method: HttpMethod;
  pattern: string;
}

/**
 * Every route the broker's Fastify instance serves, read from the running
 * app (`printRoutes`), so a route registered anywhere (a Nest controller,
 * Swagger, or straight on Fastify, like the token fast path) is in the list.
 */
export function liveRoutes(app: NestFastifyApplication): LiveRoute[] {
  const tree = app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: LiveRoute[] = [];
  for (const line of tree.split('\n')) {
    const marker = line.search(/[├└]── /);
    if (marker < 0) continue;
    const depth = Math.round(marker / 4);
    const text = line.slice(marker + 4);
    const match = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(text)!;
    stack.length = depth;
    stack.push(match[1]);
    const pattern = stack.join('');
    for (const method of (match[2] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean)) {
      routes.push({ method: method as HttpMethod, pattern });
    }
  }
  return routes;
}

export const routeKey = (route: LiveRoute): string => `${route.method} ${route.pattern}`;

export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
};

/** Security headers on an answer, and nothing that names the framework. */
export function expectSecurityHeaders(res: Response, label: string): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    expect({ label, [name]: res.headers[name] }).toEqual({ label, [name]: value });
  }
  expect({ label, poweredBy: res.headers['x-powered-by'] }).toEqual({ label, poweredBy: undefined });
  expect({ label, server: res.headers.server }).toEqual({ label, server: undefined });
}

const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'payload_too_large',
  'rate_limited',
  'credentials_rejected',
  'upstream_unavailable',
  'store_unavailable',
  'internal',
];

/** Anything that looks like a stack frame, a file path of this machine, or a framework's internal error code. */
export const INTERNALS =
  /\bat [\w.<>]+ \(|\.(ts|js):\d+|\/work\/|\/home\/|node_modules|FST_[A-Z_]+|ERR_[A-Z_]+|"stack"|Error: /;

/** The contract's error shape, exactly; `details` on (and only on) a 400; no internals. */
export function expectContractError(res: Response, label: string, status?: number): void {
  const body = res.body as Record<string, unknown>;
  const summary = { label, status: res.status, text: res.text.slice(0, 300) };
  expect({ ...summary, json: /^application\/json/.test(String(res.headers['content-type'])) }).toEqual({
    ...summary,
    json: true,
  });
  if (status !== undefined) expect(summary).toEqual({ ...summary, status });
  const expectedKeys =
    res.status === 400
      ? ['code', 'details', 'error', 'message', 'statusCode']
      : ['code', 'error', 'message', 'statusCode'];
  expect({ label, keys: Object.keys(body).sort() }).toEqual({ label, keys: expectedKeys });
  expect({ label, statusCode: body.statusCode, code: ERROR_CODES.includes(String(body.code)) }).toEqual({
    label,
    statusCode: res.status,
    code: true,
  });
  expect(typeof body.message === 'string' && body.message.length > 0 && typeof body.error === 'string').toBe(true);
  if (res.status === 400) {
    const details = body.details as { field: unknown; problems: unknown[] }[];
    expect(Array.isArray(details) && details.length > 0).toBe(true);
    for (const detail of details) {
      expect(Object.keys(detail).sort()).toEqual(['field', 'problems']);
      expect(typeof detail.field).toBe('string');
      expect(detail.problems.every((p) => typeof p === 'string')).toBe(true);
    }
  }
  expect({ label, internals: INTERNALS.exec(res.text)?.[0] ?? null }).toEqual({ label, internals: null });
}

/**
 * Every key under `prefix` with its type and full content, in a stable
 * order, for byte-for-byte comparison and for leak scans. TTLs are left out.
 */
export async function dumpRedis(
  redis: Redis,
  prefix: string,
): Promise<Record<string, { type: string; value: unknown }>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const dump: Record<string, { type: string; value: unknown }> = {};
  for (const key of [...new Set(keys)].sort()) {
    const type = await redis.type(key);
    let value: unknown;
    switch (type) {
      case 'string':
        value = (await redis.getBuffer(key))?.toString('base64');
        break;
      case 'hash': {
        const hash = await redis.hgetall(key);
        value = Object.fromEntries(Object.entries(hash).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
        break;
      }
      case 'set':
        value = (await redis.smembers(key)).sort();
        break;
      case 'zset':
        value = await redis.zrange(key, 0, -1, 'WITHSCORES');
        break;
      case 'list':
        value = await redis.lrange(key, 0, -1);
        break;
      case 'stream':
        value = await redis.xrange(key, '-', '+');
        break;
      case 'none':
        continue;
      default:
        throw new Error(`dumpRedis: no reader for Redis type ${type} (key ${key})`);
    }
    dump[key] = { type, value };
  }
  return dump;
}

/** The dump as one text, strings base64-decoded and client hashes' chunks joined, for searching. */
export function dumpText(dump: Record<string, { type: string; value: unknown }>): string {
  return Object.entries(dump)
    .map(([key, { type, value }]) => `${key} ${type} ${searchable(key, type, value)}`)
    .join('\n');
}

function searchable(key: string, type: string, value: unknown): string {
  if (type === 'string') return Buffer.from(String(value), 'base64').toString('utf8');
  if (type === 'hash' && key.includes('{c:')) return JSON.stringify(joinedChunks(value as Record<string, string>));
  return JSON.stringify(value);
}
