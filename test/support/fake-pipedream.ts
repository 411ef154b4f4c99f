import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { DISGUISES, type Disguise } from './leak-scanner';

/**
 * How the fake misbehaves until heal():
 * - '500', '503': a JSON error with that status
 * - 'timeout': never answers (until heal(), when it answers normally, or stop())
 * - '429': too many requests
 * - 'html500': a 500 with an HTML page, as a proxy in front of an upstream sends
 * - 'reset': destroys the connection without answering
 * - 'empty502': a 502 with an empty body
 */
export type FailureMode = '500' | '503' | 'timeout' | '429' | 'html500' | 'reset' | 'empty502';

export type TokenRequestFormat = 'json' | 'form';

/** What the fake puts in `expires_in`: seconds, a string as some upstreams send, or null for none. */
export type ExpiresIn = number | string | null;

export interface IssuedToken {
  clientId: string;
  accessToken: string;
  /** null when the answer carried no expires_in; a string when the fake was told to send one (odd upstreams do). */
  expiresIn: ExpiresIn;
  scope: string | null;
  format: TokenRequestFormat;
  at: number;
}

export interface UpstreamRequestLog {
  at: number;
  method: string;
  path: string;
  /** The client id presented to the token endpoint, null elsewhere. */
  clientId: string | null;
  format: TokenRequestFormat | null;
  /** null while unanswered, and for a connection reset or a request that hung. */
  status: number | null;
}

export interface FakePipedreamOptions {
  /** Lifetime of issued tokens, seconds; default 3600. */
  expiresIn?: number;
  delayMs?: number;
  /**
   * Counts token requests per client instead of logging `requests` and `issued` (onIssued still tells of tokens):
   * for the bench, whose million clients' log objects would make GC pause the fake. Tests keep the logs.
   */
  lightLog?: boolean;
  /**
   * Clients the fake knows without a record: for the bench, whose million records made GC pause the fake.
   * A client not added is accepted when it presents secretOf(its id) (null: unknown), and its tokens live
   * expiresInOf(its id, its token requests so far, this one included) seconds. Use with lightLog (counts).
   */
  derivedClients?: {
    secretOf(clientId: string): string | null;
    expiresInOf(clientId: string, requests: number): number;
  };
}

export interface FakeClientOptions {
  /** Overrides the server-wide lifetime for this client's tokens. */
  expiresIn?: number;
  /** When given, only these scopes may be requested. */
  scopes?: string[];
}

interface FakeClient {
  secret: string;
  options: FakeClientOptions;
  revoked: boolean;
}

interface ActiveFailure {
  mode: FailureMode;
  remaining: number;
  retryAfterSeconds: number | null;
}

interface PresentedCredentials {
  format: TokenRequestFormat;
  grantType: string | null;
  clientId: string | null;
  clientSecret: string | null;
  scope: string | null;
  /** A private_key_jwt client's assertion (the fake verifies none: it refuses them all). */
  clientAssertion: string | null;
}

interface TokenRequestProblem {
  status: number;
  error: string;
  description: string;
}

const TOKEN_PATH = '/v1/oauth/token';
const USERS_ME_PATH = '/v1/users/me';
const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
const DEFAULT_EXPIRES_IN = 3_600;

/**
 * A real HTTP server on 127.0.0.1 standing in for Pipedream: its OAuth token
 * endpoint (both the JSON body the official SDK sends and the RFC 6749 form
 * body with HTTP Basic) and GET /v1/users/me for API keys. Tests script its
 * failures and read back every request and every token it issued.
 */
export class FakePipedream {
  readonly baseUrl: string;
  readonly tokenUrl: string;
  readonly issued: IssuedToken[] = [];
  readonly requests: UpstreamRequestLog[] = [];
  /** Every client_assertion presented, in order. */
  readonly assertions: string[] = [];
  /** When true, 4xx error descriptions quote the presented secret, key and Authorization header back. */
  echoSecretsInErrors = false;
  /** When set, 4xx error descriptions also quote the presented secret, key and Basic credential back in this disguise. */
  echoDisguise: Disguise | null = null;

  private readonly clients = new Map<string, FakeClient>();
  private readonly apiKeys = new Set<string>();
  private defaultExpiresIn: ExpiresIn;
  private delayMs: number;
  private failure: ActiveFailure | null = null;
  /** Client id -> the failure of that client's token requests alone. */
  private readonly clientFailures = new Map<string, ActiveFailure>();
  private redirectUrl: string | null = null;
  private readonly hungRequests = new Set<() => void>();
  private readonly stopping = new AbortController();
  private inFlightNow = 0;
  private maxInFlightSeen = 0;
  /** The light log: token requests per client id presented (null: none); null when the full log is kept. */
  private readonly light: Map<string | null, number> | null;
  private readonly issuedListeners = new Set<(clientId: string, at: number) => void>();

  private constructor(
    private readonly server: Server,
    private readonly startOptions: FakePipedreamOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.tokenUrl = `${this.baseUrl}${TOKEN_PATH}`;
    this.defaultExpiresIn = startOptions.expiresIn ?? DEFAULT_EXPIRES_IN;
    this.delayMs = startOptions.delayMs ?? 0;
    this.light = startOptions.lightLog ? new Map() : null;
  }

  static async start(options: FakePipedreamOptions = {}): Promise<FakePipedream> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakePipedream(server, options);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void fake.handle(req, res));
    return fake;
  }

  /** Requests being handled right now (received, not yet answered or dropped). */
  get inFlight(): number {
    return this.inFlightNow;
  }

  /** The most requests that were in flight at once since start or reset(). */
  get maxInFlight(): number {
    return this.maxInFlightSeen;
  }

  addClient(clientId: string, clientSecret: string, options: FakeClientOptions = {}): void {
    this.clients.set(clientId, { secret: clientSecret, options, revoked: false });
  }

  revokeClient(clientId: string): void {
    const client = this.clients.get(clientId);
    if (!client) throw new Error(`FakePipedream: no client "${clientId}" to revoke`);
    client.revoked = true;
  }

  addApiKey(key: string): void {
    this.apiKeys.add(key);
  }

  revokeApiKey(key: string): void {
    this.apiKeys.delete(key);
  }

  setExpiresIn(seconds: ExpiresIn): void {
    this.defaultExpiresIn = seconds;
  }

  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Fails every request (token and API-key check alike) until heal(), or for the next `times` requests. */
  fail(mode: FailureMode, options: { times?: number; retryAfterSeconds?: number } = {}): void {
    this.failure = { mode, remaining: options.times ?? Infinity, retryAfterSeconds: options.retryAfterSeconds ?? null };
  }

  /** Fails the token requests of one client (by the client id presented) until heal(); other clients are answered. */
  failClient(clientId: string, mode: FailureMode): void {
    this.clientFailures.set(clientId, { mode, remaining: Infinity, retryAfterSeconds: null });
  }

  /** Stops failing; requests hung by 'timeout' are answered normally now. */
  heal(): void {
    this.failure = null;
    this.clientFailures.clear();
    for (const release of this.hungRequests) release();
    this.hungRequests.clear();
  }

  /** When set, the token endpoint answers 302 with this Location. */
  redirectTo(url: string | null): void {
    this.redirectUrl = url;
  }

  /** Calls `listener` for each token issued from now on, in either log mode; returns its unsubscribe. */
  onIssued(listener: (clientId: string, at: number) => void): () => void {
    this.issuedListeners.add(listener);
    return () => void this.issuedListeners.delete(listener);
  }

  tokenRequestCount(clientId?: string): number {
    if (this.light && clientId !== undefined) return this.light.get(clientId) ?? 0;
    if (this.light) return [...this.light.values()].reduce((sum, count) => sum + count, 0);
    return this.requests.filter((r) => r.path === TOKEN_PATH && (clientId === undefined || r.clientId === clientId))
      .length;
  }

  /** Token requests per client id presented (requests that presented none are left out). */
  tokenRequestCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    if (this.light) for (const [clientId, count] of this.light) if (clientId !== null) counts.set(clientId, count);
    if (this.light) return counts;
    for (const { path, clientId } of this.requests) {
      if (path === TOKEN_PATH && clientId !== null) counts.set(clientId, (counts.get(clientId) ?? 0) + 1);
    }
    return counts;
  }

  /** Resolves once the token endpoint has received `count` requests (for a client, when given). */
  async waitForTokenRequests(count: number, options: { clientId?: string; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 5_000);
    while (this.tokenRequestCount(options.clientId) < count) {
      if (Date.now() > deadline) {
        throw new Error(
          `FakePipedream: expected ${count} token requests${options.clientId ? ` for ${options.clientId}` : ''}, got ${this.tokenRequestCount(options.clientId)}`,
        );
      }
      await sleep(10);
    }
  }

  /** Back to the state right after start(): no clients, keys, failures or history (listeners stay). */
  reset(): void {
    this.heal();
    this.clients.clear();
    this.apiKeys.clear();
    this.issued.length = 0;
    this.requests.length = 0;
    this.light?.clear();
    this.defaultExpiresIn = this.startOptions.expiresIn ?? DEFAULT_EXPIRES_IN;
    this.delayMs = this.startOptions.delayMs ?? 0;
    this.redirectUrl = null;
    this.echoSecretsInErrors = false;
    this.echoDisguise = null;
    this.maxInFlightSeen = this.inFlightNow;
  }

  /** Closes every connection, hung ones included, so the test process can exit. */
  async stop(): Promise<void> {
    this.stopping.abort();
    for (const release of this.hungRequests) release();
    this.hungRequests.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.trackInFlight(res);
    const path = new URL(req.url ?? '/', this.baseUrl).pathname;
    const entry: UpstreamRequestLog = {
      at: Date.now(),
      method: req.method ?? '',
      path,
      clientId: null,
      format: null,
      status: null,
    };
    if (!this.light) this.requests.push(entry);
    try {
      const body = await readBody(req);
      const presented = path === TOKEN_PATH ? presentedCredentials(req, body ?? '') : null;
      if (presented !== null && typeof presented !== 'string') {
        entry.clientId = presented.clientId;
        entry.format = presented.format;
      }
      if (this.light && path === TOKEN_PATH) this.light.set(entry.clientId, (this.light.get(entry.clientId) ?? 0) + 1);
      if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal: this.stopping.signal });
      if (await this.misbehave(req, res, entry)) return;
      if (body === null)
        return this.send(res, entry, 413, { error: 'invalid_request', error_description: 'request body too large' });
      if (presented !== null) return this.token(req, res, entry, presented);
      if (path === USERS_ME_PATH) return this.usersMe(req, res, entry);
      this.send(res, entry, 404, { error: 'not_found', error_description: `no route ${req.method} ${path}` });
    } catch {
      // The client went away or the fake is stopping: there is nobody to answer.
      req.socket.destroy();
    }
  }

  private trackInFlight(res: ServerResponse): void {
    this.inFlightNow += 1;
    this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.inFlightNow);
    let done = false;
    // 'finish' fires as the answer is handed to the socket, before the client
    // can read it and send its next request; 'close' covers dropped ones.
    const settle = (): void => {
      if (done) return;
      done = true;
      this.inFlightNow -= 1;
    };
    res.once('finish', settle);
    res.once('close', settle);
  }

  /** Applies the scripted failure, if any; true when the request was dealt with. */
  private async misbehave(req: IncomingMessage, res: ServerResponse, entry: UpstreamRequestLog): Promise<boolean> {
    const failure = (entry.clientId !== null && this.clientFailures.get(entry.clientId)) || this.failure;
    if (!failure) return false;
    failure.remaining -= 1;
    if (failure === this.failure && failure.remaining <= 0) this.failure = null;
    const headers: Record<string, string> =
      failure.retryAfterSeconds === null ? {} : { 'Retry-After': String(failure.retryAfterSeconds) };
    switch (failure.mode) {
      case '500':
        this.send(res, entry, 500, { error: 'server_error', error_description: 'internal error' }, headers);
        return true;
      case '503':
        this.send(res, entry, 503, { error: 'temporarily_unavailable', error_description: 'try again later' }, headers);
        return true;
      case '429':
        this.send(res, entry, 429, { error: 'rate_limited', error_description: 'too many requests' }, headers);
        return true;
      case 'html500':
        this.send(res, entry, 500, '<html><body><h1>500 Internal Server Error</h1></body></html>', {
          ...headers,
          'Content-Type': 'text/html',
        });
        return true;
      case 'empty502':
        this.send(res, entry, 502, '', headers);
        return true;
      case 'reset':
        req.socket.destroy();
        return true;
      case 'timeout':
        await new Promise<void>((release) => this.hungRequests.add(release));
        // Released by stop(): leave the connection for closeAllConnections.
        return this.stopping.signal.aborted;
    }
  }

  private token(
    req: IncomingMessage,
    res: ServerResponse,
    entry: UpstreamRequestLog,
    presented: PresentedCredentials | string,
  ): void {
    if (req.method !== 'POST')
      return this.send(res, entry, 405, { error: 'invalid_request', error_description: 'use POST' });
    if (this.redirectUrl !== null) return this.send(res, entry, 302, '', { Location: this.redirectUrl });
    if (typeof presented === 'string')
      return this.send(res, entry, 400, { error: 'invalid_request', error_description: presented });
    if (presented.clientAssertion !== null) this.assertions.push(presented.clientAssertion);
    const authorized = this.authorize(presented);
    if ('error' in authorized) {
      const assertion = presented.clientAssertion ?? '';
      const echo = this.echoSecretsInErrors
        ? ` (presented client_secret "${presented.clientSecret ?? ''}", Authorization "${req.headers.authorization ?? ''}"${assertion && `, client_assertion "${assertion}"`})`
        : '';
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const disguised = this.disguisedEcho([
        presented.clientSecret ?? '',
        ...(basic === undefined ? [] : [basic]),
        ...(assertion ? [assertion] : []),
      ]);
      return this.send(res, entry, authorized.status, {
        error: authorized.error,
        error_description: authorized.description + echo + disguised,
      });
    }
    const expiresIn = authorized.client.options.expiresIn ?? this.defaultExpiresIn;
    const accessToken = `pd_at_${randomBytes(24).toString('base64url')}`;
    const { scope, format } = presented;
    const at = Date.now();
    if (!this.light) this.issued.push({ clientId: authorized.clientId, accessToken, expiresIn, scope, format, at });
    for (const listener of this.issuedListeners) listener(authorized.clientId, at);
    this.send(res, entry, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      ...(expiresIn !== null && { expires_in: expiresIn }),
      ...(scope !== null && { scope }),
    });
  }

  private authorize(request: PresentedCredentials): { clientId: string; client: FakeClient } | TokenRequestProblem {
    if (request.grantType !== 'client_credentials') {
      return {
        status: 400,
        error: 'unsupported_grant_type',
        description: `grant_type must be client_credentials, got ${JSON.stringify(request.grantType)}`,
      };
    }
    const client =
      request.clientId === null ? undefined : (this.clients.get(request.clientId) ?? this.derived(request.clientId));
    if (request.clientId === null || !client || client.secret !== request.clientSecret) {
      return { status: 401, error: 'invalid_client', description: 'Client authentication failed' };
    }
    if (client.revoked) return { status: 401, error: 'invalid_client', description: 'The client has been revoked' };
    const allowed = client.options.scopes;
    const unknownScopes = allowed
      ? (request.scope ?? '').split(' ').filter((scope) => scope !== '' && !allowed.includes(scope))
      : [];
    if (unknownScopes.length > 0)
      return { status: 400, error: 'invalid_scope', description: `Unknown scope: ${unknownScopes.join(' ')}` };
    return { clientId: request.clientId, client };
  }

  /** A client of derivedClients, as if added now. */
  private derived(clientId: string): FakeClient | undefined {
    const rule = this.startOptions.derivedClients;
    const secret = rule?.secretOf(clientId) ?? null;
    if (!rule || secret === null) return undefined;
    return {
      secret,
      options: { expiresIn: rule.expiresInOf(clientId, this.tokenRequestCount(clientId)) },
      revoked: false,
    };
  }

  private usersMe(req: IncomingMessage, res: ServerResponse, entry: UpstreamRequestLog): void {
    if (req.method !== 'GET')
      return this.send(res, entry, 405, { error: 'invalid_request', error_description: 'use GET' });
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? null;
    if (key === null || !this.apiKeys.has(key)) {
      const echo =
        (this.echoSecretsInErrors ? ` (presented key "${key ?? ''}")` : '') + this.disguisedEcho([key ?? '']);
      return this.send(res, entry, 401, { error: 'unauthorized', error_description: `Invalid API key${echo}` });
    }
    const userId = `u_${Buffer.from(key).toString('hex').slice(0, 12)}`;
    this.send(res, entry, 200, { data: { id: userId, username: 'fake-user', email: 'fake-user@example.com' } });
  }

  /** The presented values in the scripted disguise, as an upstream that quotes its input (cut, encoded, re-cased) would. */
  private disguisedEcho(values: string[]): string {
    const disguise = this.echoDisguise;
    return disguise === null ? '' : ` (you sent ${values.map((value) => DISGUISES[disguise](value)).join(' with ')})`;
  }

  private send(
    res: ServerResponse,
    entry: UpstreamRequestLog,
    status: number,
    body: object | string,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed) return;
    entry.status = status;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      ...(typeof body === 'string' ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

/** The body as text; null when it is larger than the fake accepts. */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** What the token request presented, or why it cannot be read (a string). */
function presentedCredentials(req: IncomingMessage, body: string): PresentedCredentials | string {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (contentType === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return 'body is not valid JSON';
    }
    if (typeof parsed !== 'object' || parsed === null) return 'body must be a JSON object';
    const field = (name: string): string | null => {
      const value = (parsed as Record<string, unknown>)[name];
      return typeof value === 'string' ? value : null;
    };
    return {
      format: 'json',
      grantType: field('grant_type'),
      clientId: field('client_id'),
      clientSecret: field('client_secret'),
      scope: field('scope'),
      clientAssertion: null,
    };
  }
  if (contentType === 'application/x-www-form-urlencoded') {
    const params = new URLSearchParams(body);
    const basic = basicCredentials(req.headers.authorization);
    return {
      format: 'form',
      grantType: params.get('grant_type'),
      scope: params.get('scope'),
      clientId: basic?.clientId ?? null,
      clientSecret: basic?.clientSecret ?? null,
      clientAssertion: params.get('client_assertion'),
    };
  }
  return `unsupported Content-Type "${contentType}"`;
}

/**
 * HTTP Basic as RFC 6749 section 2.3.1 defines it for OAuth: split on the
 * first ':', then form-decode each half. Strict decoding on purpose: a client
 * that forgot to encode a '%' in its secret must fail here, as it would upstream.
 */
function basicCredentials(header: string | undefined): { clientId: string; clientSecret: string } | null {
  const encoded = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '')?.[1];
  if (encoded === undefined) return null;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator < 0) return null;
  const clientId = formDecode(decoded.slice(0, separator));
  const clientSecret = formDecode(decoded.slice(separator + 1));
  return clientId === null || clientSecret === null ? null : { clientId, clientSecret };
}

function formDecode(value: string): string | null {
  try {
    return decodeURIComponent(value.replace(/\+/g, '%20'));
  } catch {
    return null;
  }
}
