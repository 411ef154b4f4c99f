import { TokenBrokerError, type TokenBrokerErrorCode } from './errors.ts';
import type { ResolvedOptions } from './options.ts';
import { attemptDelayMs, parseRetryAfter } from './policies.ts';

/** A token as the broker handed it out; `expiresAtMs` is null for an `api_key` client. */
export interface BrokerToken {
  accessToken: string;
  /** Local clock: the request's start plus `expires_in`, so skew between the hosts does not matter. */
  expiresAtMs: number | null;
}

/** `GET /v1/clients/:id/token`, or the refresh route for a token the upstream refused. */
export type TokenCall = { kind: 'get' } | { kind: 'refresh'; rejectedToken: string };

/**
 * One broker call and its retries. A background renewal's waits do not keep the process
 * alive; once a caller joins the call (and awaits it), they do.
 */
export class CallControl {
  private waitTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private awaited: boolean) {}

  join(): void {
    if (this.awaited) return;
    this.awaited = true;
    this.waitTimer?.ref();
  }

  startWait(timer: ReturnType<typeof setTimeout>): void {
    if (!this.awaited) timer.unref();
    this.waitTimer = timer;
  }

  endWait(): void {
    this.waitTimer = null;
  }
}

const MAX_MESSAGE_CHARS = 300;

const CODE_BY_STATUS: Record<number, TokenBrokerErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
  502: 'credentials_rejected',
  503: 'upstream_unavailable',
};

/** The broker's token routes over HTTP: timeouts, retries with Retry-After and backoff, contract errors. */
export class BrokerHttp {
  /** HTTP requests sent to the broker since start, retries included. */
  requestsSent = 0;
  private readonly closing = new AbortController();

  constructor(private readonly options: ResolvedOptions) {}

  close(): void {
    this.closing.abort();
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /** The call, tried again on 503, 429 and network trouble for as long as `retryDeadlineMs` allows. */
  async token(clientId: string, call: TokenCall, control: CallControl): Promise<BrokerToken> {
    const deadlineMs = Date.now() + this.options.retryDeadlineMs;
    for (let attempt = 0; ; attempt += 1) {
      let failure: TokenBrokerError;
      try {
        return await this.once(clientId, call);
      } catch (error) {
        failure = error instanceof TokenBrokerError ? error : this.transportError(clientId, error, false);
      }
      const delayMs = attemptDelayMs(failure, attempt, this.options.maxBackoffMs);
      if (delayMs === null || Date.now() + delayMs > deadlineMs || this.closed) throw failure;
      this.options.logger.warn?.('token broker call failed; trying again', {
        clientId,
        status: failure.status,
        code: failure.code,
        delayMs: Math.round(delayMs),
        attempt: attempt + 1,
      });
      await this.wait(delayMs, control);
    }
  }

  private async once(clientId: string, call: TokenCall): Promise<BrokerToken> {
    if (this.closed) throw closedError(clientId);
    const startedAtMs = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.options.timeoutMs);
    const onClose = (): void => abort.abort();
    this.closing.signal.addEventListener('abort', onClose);
    this.requestsSent += 1;
    try {
      const response = await this.options.fetch(this.url(clientId, call), this.init(call, abort.signal));
      const text = await response.text();
      return this.answer(clientId, response, text, startedAtMs);
    } catch (error) {
      if (error instanceof TokenBrokerError) throw error;
      throw this.transportError(clientId, error, abort.signal.aborted);
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onClose);
    }
  }

  private url(clientId: string, call: TokenCall): string {
    const route = `${this.options.baseUrl}/v1/clients/${encodeURIComponent(clientId)}/token`;
    return call.kind === 'get' ? route : `${route}/refresh`;
  }

  private init(call: TokenCall, signal: AbortSignal): RequestInit {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.options.serviceKey}`,
      accept: 'application/json',
    };
    if (call.kind === 'get') return { method: 'GET', headers, signal };
    headers['content-type'] = 'application/json';
    return { method: 'POST', headers, body: JSON.stringify({ rejectedToken: call.rejectedToken }), signal };
  }

  private answer(clientId: string, response: Response, text: string, startedAtMs: number): BrokerToken {
    const body = parseJson(text);
    if (response.status !== 200) throw brokerRefusal(clientId, response, body);
    const accessToken = body?.access_token;
    const expiresIn = body?.expires_in;
    if (
      typeof accessToken !== 'string' ||
      accessToken === '' ||
      !(expiresIn === null || typeof expiresIn === 'number')
    ) {
      throw new TokenBrokerError(`Token broker answered client "${clientId}" with a body that is not a token`, {
        status: response.status,
        code: 'invalid_response',
      });
    }
    const expiresAtMs = expiresIn === null ? null : startedAtMs + expiresIn * 1_000;
    if (expiresAtMs !== null && expiresAtMs - this.options.minTtlMs <= Date.now()) {
      throw new TokenBrokerError(
        `Token broker's token for client "${clientId}" has less than minTtlSeconds left (${expiresIn} s)`,
        { status: response.status, code: 'token_expiring' },
      );
    }
    return { accessToken, expiresAtMs };
  }

  private transportError(clientId: string, error: unknown, aborted: boolean): TokenBrokerError {
    if (this.closed) return closedError(clientId);
    if (aborted) {
      return new TokenBrokerError(
        `Token broker did not answer for client "${clientId}" within ${this.options.timeoutMs} ms`,
        {
          status: null,
          code: 'timeout',
        },
      );
    }
    const reason = networkReason(error);
    return new TokenBrokerError(`Token broker could not be reached for client "${clientId}": ${reason}`, {
      status: null,
      code: 'network_error',
      cause: error,
    });
  }

  /** Sleeps, or stops early when the client is closed (the next attempt then fails as closed). */
  private wait(delayMs: number, control: CallControl): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        control.endWait();
        this.closing.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, delayMs);
      control.startWait(timer);
      this.closing.signal.addEventListener('abort', done);
    });
  }
}

type JsonObject = Record<string, unknown>;

function parseJson(text: string): JsonObject | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as JsonObject) : null;
  } catch {
    return null;
  }
}

function brokerRefusal(clientId: string, response: Response, body: JsonObject | null): TokenBrokerError {
  const status = response.status;
  const code =
    typeof body?.code === 'string' ? (body.code as TokenBrokerErrorCode) : (CODE_BY_STATUS[status] ?? 'internal');
  const said = typeof body?.message === 'string' ? `: ${body.message.slice(0, MAX_MESSAGE_CHARS)}` : '';
  return new TokenBrokerError(`Token broker refused the token for client "${clientId}" (${status} ${code})${said}`, {
    status,
    code,
    retryAfterSeconds: parseRetryAfter(response.headers.get('retry-after'), Date.now()),
  });
}

function closedError(clientId: string): TokenBrokerError {
  return new TokenBrokerError(`TokenBrokerClient is closed (client "${clientId}")`, {
    status: null,
    code: 'client_closed',
  });
}

/** The system error code (ECONNREFUSED, ...) when fetch gives one, else its message. */
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  return error instanceof Error ? error.message : 'unknown error';
}
