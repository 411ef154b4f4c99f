/**
 * A broker stand-in for unit tests: a fetch function whose answers the test scripts,
 * recording every call. The e2e specs use the real compiled broker instead.
 */
export interface RecordedCall {
  method: string;
  url: string;
  authorization: string | null;
  body: string | null;
  at: number;
}

export type Answer = Response | Error | Promise<Response | Error>;
export type Responder = (call: RecordedCall) => Answer;

export function tokenAnswer(accessToken: string, expiresIn: number | null): Response {
  return Response.json({
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: expiresIn,
    expires_at: expiresIn === null ? null : new Date(Date.now() + expiresIn * 1_000).toISOString(),
  });
}

export function errorAnswer(status: number, code: string, retryAfterSeconds?: number): Response {
  const headers: Record<string, string> =
    retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) };
  return Response.json(
    { statusCode: status, error: 'Error', message: `broker says ${code}`, code },
    { status, headers },
  );
}

/** What undici's fetch throws when nothing listens on the port. */
export function connectionRefused(): Error {
  const error = new TypeError('fetch failed');
  Object.assign(error, {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
  });
  return error;
}

export class ScriptedBroker {
  readonly calls: RecordedCall[] = [];
  private issued = 0;

  /** By default every GET gets a new token living `expiresIn` seconds. */
  constructor(public responder: Responder = () => tokenAnswer(`tok_${++this.issued}`, 3_600)) {}

  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    const call: RecordedCall = {
      method: init?.method ?? 'GET',
      url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
      authorization: headers.get('authorization'),
      body: typeof init?.body === 'string' ? init.body : null,
      at: Date.now(),
    };
    this.calls.push(call);
    const answer = await Promise.race([this.responder(call), aborted(init?.signal)]);
    if (answer instanceof Error) throw answer;
    return answer;
  };

  /** Issues the next numbered token, living `expiresIn` seconds. */
  nextToken(expiresIn: number | null): Response {
    this.issued += 1;
    return tokenAnswer(`tok_${this.issued}`, expiresIn);
  }

  count(filter: (call: RecordedCall) => boolean = () => true): number {
    return this.calls.filter(filter).length;
  }
}

/** Settles as fetch does when its signal is aborted: with an AbortError. */
function aborted(signal: AbortSignal | null | undefined): Promise<Error> {
  return new Promise((resolve) => {
    if (signal === null || signal === undefined) return;
    if (signal.aborted) resolve(new DOMException('This operation was aborted', 'AbortError'));
    signal.addEventListener('abort', () => resolve(new DOMException('This operation was aborted', 'AbortError')));
  });
}

export const isRefresh = (call: RecordedCall): boolean => call.url.endsWith('/token/refresh');
