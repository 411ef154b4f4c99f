import Redis, { ReplyError, type ChainableCommander, type RedisOptions } from 'ioredis';
import {
  DuplicateClientError,
  StoreUnavailableError,
  type AuditPageQuery,
  type BrokerStore,
  type ClientChange,
  type ClientPageQuery,
  type DueClaim,
  type DueClient,
  type LockedRead,
  type UpdateOutcome,
} from './broker-store';
import {
  assertAuditCursor,
  deliver,
  failingScore,
  identityChangeError,
  isFailingState,
  matchesAuditQuery,
  sortServiceKeys,
  type StoreLogger,
} from './store-helpers';
import {
  CLIENT_STATES,
  type AuditEvent,
  type ClientEntry,
  type ClientState,
  type ClientStatus,
  type ServiceKeyRecord,
  type StoreEvent,
  type TokenStats,
} from './store.types';

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  logger?: StoreLogger;
}

const CONNECT_TIMEOUT_MS = 2_000;
/** A Redis that accepts connections but does not answer (paused, swapping) must still give a 503, not a hung request. */
const COMMAND_TIMEOUT_MS = 2_000;
/** Events read per XREVRANGE while looking for audit events that match a filter. */
const AUDIT_SCAN_CHUNK = 500;

/** Replies that mean "Redis cannot serve this right now", not "this command is wrong". */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF|OOM)\b/;

/**
 * Key layout. Everything sits under the prefix. One client's keys share the
 * hash tag {c:<id>}, a workspace's indexes share {ws:<id>}, and every other
 * key is global and lives alone in its slot, so no command (and no script)
 * ever touches keys of two slots: Redis Cluster can hold this layout.
 */
function redisKeys(prefix: string) {
  return {
    /** Hash: client (JSON), gen, state, status (JSON), token (JSON, absent when none). */
    client: (id: string) => `${prefix}{c:${id}}`,
    lock: (id: string) => `${prefix}{c:${id}}:lock`,
    /** Sorted set, all scores 0: ids in lexicographic order, for cursor pages. */
    workspaceClients: (workspaceId: string) => `${prefix}{ws:${workspaceId}}:clients`,
    /** Hash: OAuth client id -> broker client id, for the per-workspace uniqueness check. */
    workspaceClientIds: (workspaceId: string) => `${prefix}{ws:${workspaceId}}:client-ids`,
    clients: `${prefix}clients`,
    /** Sorted set: client id scored by its next refresh time (epoch ms); a claim moves it to the lease's end. */
    schedule: `${prefix}schedule`,
    /** Hash: state -> number of clients in it. */
    stats: `${prefix}stats`,
    /** Sorted set: failing or rejected client ids scored by when they started failing. */
    failing: `${prefix}failing`,
    /** Hash: service key id -> record (JSON). */
    serviceKeys: `${prefix}service-keys`,
    /** Stream of audit events, capped by XADD MAXLEN. */
    audit: `${prefix}audit`,
    /** Pub/sub channel of StoreEvent JSON. */
    events: `${prefix}events`,
  };
}

type RedisKeys = ReturnType<typeof redisKeys>;

type UpdateReply = [outcome: UpdateOutcome | 'immutable', previousState?: ClientState | null];

/** Scripts run atomically on the keys of one client (or one workspace index, or the schedule): never across slots. */
interface StoreScripts {
  tbInsertClient(clientKey: string, client: string, generation: string, state: string, status: string, token: string): Promise<number>;
  tbUpdateClient(
    clientKey: string,
    lockKey: string,
    expectedGeneration: string,
    client: string,
    generation: string,
    status: string,
    state: string,
    token: string,
    channel: string,
    event: string,
    lockOwner: string,
  ): Promise<UpdateReply>;
  tbDeleteClient(clientKey: string, lockKey: string, channel: string, event: string): Promise<string[] | null>;
  tbReplaceClientIdOwner(indexKey: string, clientId: string, expectedOwner: string, newOwner: string): Promise<number>;
  tbClaimDue(scheduleKey: string, now: string, leaseUntil: string, limit: string): Promise<[claimed: string[], next: string[]]>;
  tbLockAndRead(lockKey: string, clientKey: string, owner: string, ttlMs: string): Promise<string[] | null>;
  tbReleaseLock(lockKey: string, owner: string): Promise<number>;
  tbExtendLock(lockKey: string, owner: string, ttlMs: string): Promise<number>;
}

type ScriptedRedis = Redis & StoreScripts;

const SCRIPTS: Record<keyof StoreScripts, { numberOfKeys: number; lua: string }> = {
  tbInsertClient: {
    numberOfKeys: 1,
    lua: `
      if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
      redis.call('HSET', KEYS[1], 'client', ARGV[1], 'gen', ARGV[2], 'state', ARGV[3], 'status', ARGV[4])
      if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'token', ARGV[5]) end
      return 1`,
  },
  // ARGV: expected generation, client JSON, its generation, status JSON, its state, token JSON, channel, event,
  // lock owner. An empty argument leaves that field as it is; a token of 'null' removes the held token.
  // The event is published in the same script, so no replica can miss a change that was written.
  // The lock (KEYS[2]) is released first when the owner named still holds it, whatever the outcome.
  tbUpdateClient: {
    numberOfKeys: 2,
    lua: `
      if ARGV[9] ~= '' and redis.call('GET', KEYS[2]) == ARGV[9] then redis.call('DEL', KEYS[2]) end
      if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
      if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return {'stale'} end
      if ARGV[2] ~= '' then
        local stored = cjson.decode(redis.call('HGET', KEYS[1], 'client'))
        local incoming = cjson.decode(ARGV[2])
        if stored.id ~= incoming.id or stored.workspaceId ~= incoming.workspaceId or stored.clientId ~= incoming.clientId then
          return {'immutable'}
        end
        redis.call('HSET', KEYS[1], 'client', ARGV[2], 'gen', ARGV[3])
      end
      local previousState = redis.call('HGET', KEYS[1], 'state')
      if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[4], 'state', ARGV[5]) end
      if ARGV[6] == 'null' then
        redis.call('HDEL', KEYS[1], 'token')
      elseif ARGV[6] ~= '' then
        redis.call('HSET', KEYS[1], 'token', ARGV[6])
      end
      redis.call('PUBLISH', ARGV[7], ARGV[8])
      return {'ok', previousState}`,
  },
  tbDeleteClient: {
    numberOfKeys: 2,
    lua: `
      local fields = redis.call('HGETALL', KEYS[1])
      if #fields == 0 then return false end
      redis.call('DEL', KEYS[1], KEYS[2])
      redis.call('PUBLISH', ARGV[1], ARGV[2])
      return fields`,
  },
  // Compare-and-set on one field of a workspace's client-ids hash; an empty new owner removes the field.
  tbReplaceClientIdOwner: {
    numberOfKeys: 1,
    lua: `
      if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
      if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
      return 1`,
  },
  tbClaimDue: {
    numberOfKeys: 1,
    lua: `
      local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[3])
      for index = 1, #due, 2 do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[index]) end
      return {due, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')}`,
  },
  // The lock and the read in one step (both keys carry the client's hash tag): nil when the lock is taken,
  // else the client hash's fields (none for a deleted client).
  tbLockAndRead: {
    numberOfKeys: 2,
    lua: `
      if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return false end
      return redis.call('HGETALL', KEYS[2])`,
  },
  tbReleaseLock: {
    numberOfKeys: 1,
    lua: `
      if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
      return 0`,
  },
  tbExtendLock: {
    numberOfKeys: 1,
    lua: `
      if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
      return 0`,
  },
};

interface Subscription {
  onEvent: (event: StoreEvent) => void;
  onResync: () => void;
}

/**
 * The store of record on Redis (or anything speaking its protocol).
 *
 * Writes that touch global indexes are ordered so that a crash or an outage
 * between two steps cannot lose a registered client nor make an index point
 * at a wrong one:
 * - insert writes the client hash first, then claims the OAuth client id,
 *   then adds the id to the lists and counters;
 * - delete removes the client hash (and its lock) first, then its index
 *   entries and counter.
 * So an index entry whose hash is missing always belongs to a deleted client:
 * listClients skips (and drops) such entries and claimClientId takes over
 * such a client id. claimDue and tokenStats().failingIds may still name such
 * an id after a crash; callers treat a missing client as gone.
 *
 * Every failure to reach Redis surfaces as StoreUnavailableError.
 */
export class RedisStore implements BrokerStore {
  readonly kind = 'redis' as const;

  private readonly keys: RedisKeys;
  /** Commands fail fast while Redis is away (no offline queue), so requests get a 503 instead of waiting. */
  private readonly redis: ScriptedRedis;
  private readonly subscriber: Redis;
  private readonly subscriptions: Subscription[] = [];
  private subscriptionActive = false;
  /** The channel was subscribed, then the connection dropped: events may have been missed. */
  private subscriptionLost = false;

  /** Starts connecting in the background; see connect() to wait for the first connection. */
  constructor(private readonly options: RedisStoreOptions) {
    this.keys = redisKeys(options.keyPrefix);
    const common: RedisOptions = {
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Reconnect forever: the service must come back by itself when Redis does.
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    };
    this.redis = new Redis(options.url, {
      ...common,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: COMMAND_TIMEOUT_MS,
    }) as ScriptedRedis;
    for (const [name, script] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, script);

    // The subscription is (re)made by hand on every 'ready' (see activateSubscription), so no
    // command ever waits in a queue and onResync runs only once the channel is listened to again.
    this.subscriber = new Redis(options.url, {
      ...common,
      enableOfflineQueue: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 0,
    });
    this.subscriber.on('ready', () => this.activateSubscription());
    this.subscriber.on('close', () => {
      if (this.subscriptionActive) this.subscriptionLost = true;
      this.subscriptionActive = false;
    });
    this.subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));

    this.reportOutages(this.redis, 'command');
    this.reportOutages(this.subscriber, 'subscriber');
  }

  /**
   * Creates the store and waits up to the connect timeout for Redis. Never
   * throws for an unreachable Redis: the service starts, reports not-ready,
   * and the store keeps reconnecting.
   */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const store = new RedisStore(options);
    if (!(await store.waitForConnection(CONNECT_TIMEOUT_MS))) {
      options.logger?.warn({}, 'Redis is not reachable yet; the store keeps reconnecting');
    }
    return store;
  }

  async ping(): Promise<void> {
    await this.run((redis) => redis.ping());
  }

  async insertClient(entry: ClientEntry, dueAt: number): Promise<void> {
    const { client, status, token } = entry;
    const created = await this.run((redis) =>
      redis.tbInsertClient(
        this.keys.client(client.id),
        JSON.stringify(client),
        String(client.generation),
        status.state,
        JSON.stringify(status),
        token === null ? '' : JSON.stringify(token),
      ),
    );
    if (created !== 1) throw new Error(`a client with id ${client.id} already exists`);
    if (client.clientId !== null) {
      try {
        await this.claimClientId(client.workspaceId, client.clientId, client.id);
      } catch (error) {
        // The claim's error is what the caller must see; a hash left behind is unlisted and harmless.
        await this.run((redis) => redis.del(this.keys.client(client.id))).catch(() => undefined);
        throw error;
      }
    }
    await this.pipeline((pipeline) => {
      pipeline.zadd(this.keys.clients, 0, client.id);
      pipeline.zadd(this.keys.workspaceClients(client.workspaceId), 0, client.id);
      pipeline.hincrby(this.keys.stats, status.state, 1);
      if (isFailingState(status.state)) pipeline.zadd(this.keys.failing, failingScore(status), client.id);
      pipeline.zadd(this.keys.schedule, dueAt, client.id);
    });
  }

  async getClient(id: string): Promise<ClientEntry | null> {
    return parseEntry(await this.run((redis) => redis.hgetall(this.keys.client(id))));
  }

  async listClients(query: ClientPageQuery): Promise<ClientEntry[]> {
    const indexKey = query.workspaceId === undefined ? this.keys.clients : this.keys.workspaceClients(query.workspaceId);
    const page: ClientEntry[] = [];
    let afterId = query.afterId;
    // Index entries of deleted clients are skipped, so a page may take more than one read to fill.
    while (page.length < query.limit) {
      const wanted = query.limit - page.length;
      const ids = await this.idsAfter(indexKey, afterId, wanted);
      const entries = await this.readClients(ids);
      const orphans = ids.filter((_, index) => entries[index] === null);
      if (orphans.length > 0) await this.run((redis) => redis.zrem(indexKey, ...orphans));
      for (const entry of entries) if (entry) page.push(entry);
      if (ids.length < wanted) break;
      afterId = ids[ids.length - 1];
    }
    return page;
  }

  async listClientIds(afterId: string | undefined, limit: number): Promise<string[]> {
    return this.idsAfter(this.keys.clients, afterId, limit);
  }

  async updateClient(id: string, expectedGeneration: number, change: ClientChange, releaseLockOf?: string): Promise<UpdateOutcome> {
    const { client, status, token } = change;
    const [outcome, previousState] = await this.run((redis) =>
      redis.tbUpdateClient(
        this.keys.client(id),
        this.keys.lock(id),
        String(expectedGeneration),
        client ? JSON.stringify(client) : '',
        client ? String(client.generation) : '',
        status ? JSON.stringify(status) : '',
        status ? status.state : '',
        token === undefined ? '' : JSON.stringify(token),
        this.keys.events,
        clientEvent(id),
        releaseLockOf ?? '',
      ),
    );
    if (outcome === 'immutable') throw identityChangeError();
    if (outcome === 'ok' && status && previousState && status.state !== previousState) {
      await this.pipeline((pipeline) => {
        pipeline.hincrby(this.keys.stats, previousState, -1);
        pipeline.hincrby(this.keys.stats, status.state, 1);
        this.trackFailing(pipeline, id, status);
      });
    }
    return outcome;
  }

  async deleteClient(id: string): Promise<ClientEntry | null> {
    const fields = await this.run((redis) =>
      redis.tbDeleteClient(this.keys.client(id), this.keys.lock(id), this.keys.events, clientEvent(id)),
    );
    const entry = fields === null ? null : parseEntry(pairsToRecord(fields));
    if (entry === null) return null;
    const { workspaceId, clientId } = entry.client;
    await this.pipeline((pipeline) => {
      pipeline.zrem(this.keys.clients, id);
      pipeline.zrem(this.keys.workspaceClients(workspaceId), id);
      pipeline.zrem(this.keys.schedule, id);
      pipeline.zrem(this.keys.failing, id);
      pipeline.hincrby(this.keys.stats, entry.status.state, -1);
    });
    if (clientId !== null) {
      // Compare-and-delete: a newer client may already have taken this client id over.
      await this.run((redis) => redis.tbReplaceClientIdOwner(this.keys.workspaceClientIds(workspaceId), clientId, id, ''));
    }
    return entry;
  }

  async tokenStats(failingLimit: number): Promise<TokenStats> {
    const [total, counts, earliest, failingIds = []] = (await this.pipeline((pipeline) => {
      pipeline.zcard(this.keys.clients);
      pipeline.hgetall(this.keys.stats);
      pipeline.zrange(this.keys.schedule, 0, 0, 'WITHSCORES');
      // ZREVRANGE 0 -1 would read every failing client: a limit of 0 asks for none.
      if (failingLimit > 0) pipeline.zrevrange(this.keys.failing, 0, failingLimit - 1);
    })) as [number, Record<string, string>, string[], string[] | undefined];
    const byState = {} as Record<ClientState, number>;
    // Counters can dip below zero after a crash between a delete's steps; never report that.
    for (const state of CLIENT_STATES) byState[state] = Math.max(0, Number(counts[state] ?? 0));
    return {
      total,
      byState,
      failingIds: failingIds.slice(0, Math.max(0, failingLimit)),
      nextDueAt: earliest.length === 0 ? null : Number(earliest[1]),
    };
  }

  async setDue(id: string, dueAt: number): Promise<void> {
    await this.run((redis) => redis.zadd(this.keys.schedule, dueAt, id));
  }

  async removeDue(id: string): Promise<void> {
    await this.run((redis) => redis.zrem(this.keys.schedule, id));
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<DueClaim> {
    const [idsAndScores, next] = await this.run((redis) =>
      redis.tbClaimDue(this.keys.schedule, String(now), String(leaseUntil), String(Math.max(0, limit))),
    );
    const due: DueClient[] = [];
    for (let index = 0; index < idsAndScores.length; index += 2) {
      due.push({ id: idsAndScores[index], dueAt: Number(idsAndScores[index + 1]) });
    }
    return { due, nextDueAt: next.length === 0 ? null : Number(next[1]) };
  }

  async lockAndRead(id: string, owner: string, ttlMs: number): Promise<LockedRead> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    const fields = await this.run((redis) => redis.tbLockAndRead(this.keys.lock(id), this.keys.client(id), owner, ttl));
    return fields === null ? { locked: false } : { locked: true, entry: parseEntry(pairsToRecord(fields)) };
  }

  async extendLock(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    return (await this.run((redis) => redis.tbExtendLock(this.keys.lock(id), owner, ttl))) === 1;
  }

  async releaseLock(id: string, owner: string): Promise<boolean> {
    return (await this.run((redis) => redis.tbReleaseLock(this.keys.lock(id), owner))) === 1;
  }

  async insertServiceKey(record: ServiceKeyRecord): Promise<void> {
    await this.run((redis) =>
      redis
        .multi()
        .hset(this.keys.serviceKeys, record.id, JSON.stringify(record))
        .publish(this.keys.events, serviceKeyEvent(record.id))
        .exec(),
    );
  }

  async getServiceKey(id: string): Promise<ServiceKeyRecord | null> {
    const json = await this.run((redis) => redis.hget(this.keys.serviceKeys, id));
    return json === null ? null : (JSON.parse(json) as ServiceKeyRecord);
  }

  async listServiceKeys(): Promise<ServiceKeyRecord[]> {
    const values = await this.run((redis) => redis.hvals(this.keys.serviceKeys));
    return sortServiceKeys(values.map((json) => JSON.parse(json) as ServiceKeyRecord));
  }

  async deleteServiceKey(id: string): Promise<boolean> {
    // The event goes out in the same transaction; for a key that was not there it only makes replicas look again.
    const replies = await this.run((redis) =>
      redis.multi().hdel(this.keys.serviceKeys, id).publish(this.keys.events, serviceKeyEvent(id)).exec(),
    );
    const [error, deleted] = replies?.[0] ?? [null, 0];
    if (error) throw error;
    return deleted === 1;
  }

  async appendAudit(event: Omit<AuditEvent, 'id'>, maxEvents: number): Promise<AuditEvent> {
    const { at, actor, action, clientId, workspaceId } = event;
    const stored = { at, actor, action, clientId, workspaceId };
    const id = await this.run((redis) =>
      redis.xadd(this.keys.audit, 'MAXLEN', String(maxEvents), '*', 'event', JSON.stringify(stored)),
    );
    return { id: id!, ...stored };
  }

  async listAudit(query: AuditPageQuery): Promise<AuditEvent[]> {
    if (query.beforeId !== undefined) assertAuditCursor(query.beforeId);
    const page: AuditEvent[] = [];
    if (query.limit <= 0) return page;
    const filtered = query.clientId !== undefined || query.workspaceId !== undefined;
    const chunk = filtered ? Math.max(query.limit, AUDIT_SCAN_CHUNK) : query.limit;
    let newestWanted = query.beforeId === undefined ? '+' : `(${query.beforeId}`;
    while (page.length < query.limit) {
      const entries = await this.run((redis) => redis.xrevrange(this.keys.audit, newestWanted, '-', 'COUNT', chunk));
      for (const [id, fields] of entries) {
        const event = parseAuditEvent(id, fields);
        if (matchesAuditQuery(event, query) && page.length < query.limit) page.push(event);
      }
      if (entries.length < chunk) break;
      newestWanted = `(${entries[entries.length - 1][0]}`;
    }
    return page;
  }

  async publish(event: StoreEvent): Promise<void> {
    await this.run((redis) => redis.publish(this.keys.events, JSON.stringify(event)));
  }

  subscribe(onEvent: (event: StoreEvent) => void, onResync: () => void): void {
    this.subscriptions.push({ onEvent, onResync });
    if (!this.subscriptionActive) this.activateSubscription();
  }

  async close(): Promise<void> {
    await Promise.all([closeConnection(this.redis), closeConnection(this.subscriber)]);
  }

  private activateSubscription(): void {
    if (this.subscriptions.length === 0 || this.subscriber.status !== 'ready') return;
    this.subscriber.subscribe(this.keys.events).then(
      () => {
        this.subscriptionActive = true;
        if (!this.subscriptionLost) return;
        this.subscriptionLost = false;
        for (const { onResync } of this.subscriptions) this.notify(onResync);
      },
      // Nothing to do: the next 'ready' of the subscriber connection subscribes again.
      (error: unknown) => this.options.logger?.warn({ err: errorMessage(error) }, 'subscribing to store events failed'),
    );
  }

  private receive(channel: string, message: string): void {
    if (channel !== this.keys.events) return;
    const event = parseStoreEvent(message);
    if (event === null) return;
    for (const { onEvent } of this.subscriptions) deliver(onEvent, { ...event }, this.options.logger);
  }

  private notify(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.options.logger?.warn({ err: errorMessage(error) }, 'store resync subscriber failed');
    }
  }

  /** One warning per outage, not one per reconnect attempt. */
  private reportOutages(connection: Redis, role: 'command' | 'subscriber'): void {
    let reported = false;
    connection.on('error', (error: Error) => {
      if (reported) return;
      reported = true;
      this.options.logger?.warn({ connection: role, err: error.message }, 'Redis connection failed; reconnecting');
    });
    connection.on('ready', () => {
      reported = false;
    });
  }

  private waitForConnection(timeoutMs: number): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      this.redis.once('ready', onReady);
    });
  }

  /**
   * Reserves the workspace's OAuth client id for `id`. A reservation held by
   * a client whose hash is gone belongs to a delete that did not finish, and
   * is taken over.
   */
  private async claimClientId(workspaceId: string, clientId: string, id: string): Promise<void> {
    const indexKey = this.keys.workspaceClientIds(workspaceId);
    for (;;) {
      if ((await this.run((redis) => redis.hsetnx(indexKey, clientId, id))) === 1) return;
      const holder = await this.run((redis) => redis.hget(indexKey, clientId));
      if (holder === id) return;
      if (holder === null) continue;
      if ((await this.run((redis) => redis.exists(this.keys.client(holder)))) === 1) throw new DuplicateClientError(holder);
      if ((await this.run((redis) => redis.tbReplaceClientIdOwner(indexKey, clientId, holder, id))) === 1) return;
    }
  }

  private trackFailing(pipeline: ChainableCommander, id: string, status: ClientStatus): void {
    if (isFailingState(status.state)) pipeline.zadd(this.keys.failing, failingScore(status), id);
    else pipeline.zrem(this.keys.failing, id);
  }

  private idsAfter(indexKey: string, afterId: string | undefined, limit: number): Promise<string[]> {
    if (limit <= 0) return Promise.resolve([]);
    const min = afterId === undefined ? '-' : `(${afterId}`;
    return this.run((redis) => redis.zrangebylex(indexKey, min, '+', 'LIMIT', 0, limit));
  }

  private async readClients(ids: string[]): Promise<(ClientEntry | null)[]> {
    if (ids.length === 0) return [];
    const replies = await this.pipeline((pipeline) => {
      for (const id of ids) pipeline.hgetall(this.keys.client(id));
    });
    return replies.map((fields) => parseEntry(fields as Record<string, string>));
  }

  private async run<T>(command: (redis: ScriptedRedis) => Promise<T>): Promise<T> {
    try {
      return await command(this.redis);
    } catch (error) {
      throw asStoreError(error);
    }
  }

  /** Several single-key commands in one round trip; not a transaction, and each command stays in its own slot. */
  private async pipeline(build: (pipeline: ChainableCommander) => void): Promise<unknown[]> {
    const pipeline = this.redis.pipeline();
    build(pipeline);
    const replies = await this.run(() => pipeline.exec());
    return (replies ?? []).map(([error, value]) => {
      if (error) throw asStoreError(error);
      return value;
    });
  }
}

/** Redis refusing a command as wrong stays as it is (a bug); anything about reaching Redis becomes StoreUnavailableError. */
function asStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  if (error instanceof ReplyError && !UNAVAILABLE_REPLY.test((error as Error).message)) return error;
  return new StoreUnavailableError(error);
}

async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status === 'ready') {
    try {
      await connection.quit();
      return;
    } catch {
      // Fall through: dropping the socket is all that is left to do.
    }
  }
  connection.disconnect();
}

function parseEntry(fields: Record<string, string>): ClientEntry | null {
  if (fields.client === undefined) return null;
  return {
    client: JSON.parse(fields.client),
    status: JSON.parse(fields.status),
    token: fields.token === undefined ? null : JSON.parse(fields.token),
  };
}

function pairsToRecord(flat: string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let index = 0; index < flat.length; index += 2) record[flat[index]] = flat[index + 1];
  return record;
}

function parseAuditEvent(id: string, fields: string[]): AuditEvent {
  const stored = JSON.parse(pairsToRecord(fields).event) as Omit<AuditEvent, 'id'>;
  return { id, ...stored };
}

function parseStoreEvent(message: string): StoreEvent | null {
  try {
    const event = JSON.parse(message) as Partial<StoreEvent> | null;
    if ((event?.kind === 'client' || event?.kind === 'service_key') && typeof event.id === 'string') {
      return { kind: event.kind, id: event.id };
    }
  } catch {
    // Not JSON: ignored like any other message that is not a StoreEvent.
  }
  return null;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const clientEvent = (id: string): string => JSON.stringify({ kind: 'client', id } satisfies StoreEvent);
const serviceKeyEvent = (id: string): string => JSON.stringify({ kind: 'service_key', id } satisfies StoreEvent);
