import type { CliConfig } from '../config/cli-config';
import { UsageError } from './output';

/** An answer of the broker outside 2xx, in the contract's error shape: exit code 1. */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TIMEOUT_MS = 120_000;

type Query = Record<string, string | number | boolean | undefined>;

/** A small client over Node's fetch for the broker's public admin API. */
export class BrokerApi {
  constructor(private readonly config: CliConfig) {}

  get<T>(path: string, query?: Query): Promise<T> {
    return this.send<T>('GET', path, { query });
  }

  post<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.send<T>('POST', path, { body, query });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PATCH', path, { body });
  }

  put<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.send<T>('PUT', path, { body, query });
  }

  delete(path: string): Promise<void> {
    return this.send<void>('DELETE', path, {});
  }

  /** For routes that need no key (the readiness probe): the status and body, whatever the status. */
  async probe(path: string): Promise<{ status: number; body: unknown }> {
    const response = await this.fetch('GET', path, {}, false);
    return { status: response.status, body: await readBody(response) };
  }

  private async send<T>(method: string, path: string, options: { body?: unknown; query?: Query }): Promise<T> {
    const response = await this.fetch(method, path, options, true);
    const body = await readBody(response);
    if (!response.ok) throw toApiError(response.status, body);
    return body as T;
  }

  private async fetch(
    method: string,
    path: string,
    options: { body?: unknown; query?: Query },
    authenticated: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (authenticated) {
      if (this.config.adminKey === null)
        throw new UsageError('Set TOKEN_BROKER_ADMIN_KEY to an admin key (BROKER_ADMIN_KEYS of the broker)');
      headers.authorization = `Bearer ${this.config.adminKey}`;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const url = new URL(`${this.config.baseUrl}${path}`);
    for (const [key, value] of Object.entries(options.query ?? {}))
      if (value !== undefined) url.searchParams.set(key, String(value));
    try {
      return await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      throw new ApiError(0, 'unreachable', `Cannot reach the broker at ${this.config.baseUrl}${cause}`);
    }
  }
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toApiError(status: number, body: unknown): ApiError {
  const code = typeof body === 'object' && body !== null ? (body as { code?: unknown }).code : undefined;
  return new ApiError(status, typeof code === 'string' ? code : 'error', describeError(status, body));
}

/** An error body's message with its field problems; the broker's messages never quote a value. */
export function describeError(status: number, body: unknown): string {
  if (typeof body !== 'object' || body === null) return `HTTP ${status}`;
  const { message, details } = body as { message?: unknown; details?: unknown };
  const fields = Array.isArray(details) ? details.map(describeDetail).filter(Boolean).join('; ') : '';
  const text = typeof message === 'string' ? message : `HTTP ${status}`;
  return fields ? `${text} (${fields})` : text;
}

function describeDetail(detail: unknown): string {
  const { field, problems } = (detail ?? {}) as { field?: unknown; problems?: unknown };
  if (typeof field !== 'string' || !Array.isArray(problems)) return '';
  return `${field}: ${problems.join(', ')}`;
}
