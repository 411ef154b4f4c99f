import { shardOf, shardTags } from './shards';

/**
 * Key layout. Everything sits under the prefix. One client's keys share the
 * hash tag {c:<id>}, a workspace's indexes share {ws:<id>}, the keys of one
 * shard of the counters of /health/tokens share its tag (one script keeps
 * them), webhooks and their deliveries share {webhooks}, and every other key
 * is global and lives alone in its slot, so no command (and no script) ever
 * touches keys of two slots: Redis Cluster can hold this layout. The schedule,
 * which every refresh writes, and the counters, which every change of state
 * writes, are each spread over SHARDS shards in slots spread over
 * the slot range, so no master carries all of either.
 */
export function redisKeys(prefix: string) {
  const scheduleShards = shardTags('sched').map((tag) => `${prefix}{${tag}}:schedule`);
  const statsShards = shardTags('stats').map(statsShard(prefix));
  return {
    /**
     * Hash: c, s, t (the record, status and token as compact JSON, each split in chunks c, c1, c2, ... of at
     * most 64 bytes so that Redis keeps the hash a listpack: redis-entry-codec.ts; t absent when no token), gen,
     * state, iseq (index sequence: bumped by each change of state), unindexed (the iseq whose counting is
     * pending; absent when none), ev:<event id> (the webhook outbox), certWarnedAt (epoch ms of its last
     * certificate_expiring event). A hash of the layout before holds the
     * full JSON under client, status and token instead, until its writes convert each.
     */
    client: (id: string) => `${prefix}{c:${id}}`,
    lock: (id: string) => `${prefix}{c:${id}}:lock`,
    /** Sorted set, all scores 0: ids in lexicographic order, for cursor pages. */
    workspaceClients: (workspaceId: string) => `${prefix}{ws:${workspaceId}}:clients`,
    /** Hash: OAuth client id -> broker client id, for the per-workspace uniqueness check. */
    workspaceClientIds: (workspaceId: string) => `${prefix}{ws:${workspaceId}}:client-ids`,
    clients: `${prefix}clients`,
    /**
     * Sorted sets, one per shard: client id scored by its next refresh time (epoch ms); a claim moves it to the
     * lease's end. A client sits in the shard of its id.
     */
    scheduleShards,
    schedule: (id: string) => scheduleShards[shardOf(id, scheduleShards.length)],
    /** The one schedule of the layout before shards: moved into the shards at start (RedisScheduleStore). */
    legacySchedule: `${prefix}schedule`,
    /**
     * The counters of /health/tokens, spread over shards as the schedule is: a client is counted in the shard of
     * its id, and /health/tokens sums them.
     */
    statsShards,
    stats: (id: string) => statsShards[shardOf(id, statsShards.length)],
    /** String: the version of the counters' layout; absent until they were rebuilt from the client hashes. */
    statsVersion: `${prefix}{stats}:version`,
    /** The counters of the layouts before (version 1, then {stats}, version 2): removed by the rebuild. */
    legacyCounters: [
      `${prefix}stats`,
      `${prefix}failing`,
      ...['by-state', 'counted', 'failing', 'removed'].map((name) => `${prefix}{stats}:${name}`),
    ],
    /** Hash: service key id -> record (JSON). */
    serviceKeys: `${prefix}service-keys`,
    /** Stream of audit events, capped by XADD MAXLEN. */
    audit: `${prefix}audit`,
    /**
     * Hashes: client id / service key id -> epoch ms of its last use. Both
     * share the hash tag {usage}, so one script call records a replica's whole batch.
     */
    usageClients: `${prefix}{usage}:clients`,
    usageServiceKeys: `${prefix}{usage}:service-keys`,
    /** Hash: webhook id -> record (JSON). This and the keys below share {webhooks}: one script writes them all. */
    webhooks: `${prefix}{webhooks}:hooks`,
    /** Hash: delivery id -> record (JSON). */
    deliveries: `${prefix}{webhooks}:deliveries`,
    /** Sorted set: pending delivery id scored by its next attempt (epoch ms); a claim moves it to the lease's end. */
    deliveriesDue: `${prefix}{webhooks}:due`,
    /** Sorted set, all scores 0: "<webhook id>|<delivery id>", for newest-first pages of one webhook's deliveries. */
    deliveryLog: `${prefix}{webhooks}:log`,
    /** Sorted set, all scores 0: "<webhook id>|<delivery id>" of the settled (delivered or failed) ones, to trim the oldest. */
    deliveriesSettled: `${prefix}{webhooks}:settled`,
    /** Hash: "<webhook id>|<event id>" -> delivery id, so an event is queued once per webhook. */
    deliveriesSent: `${prefix}{webhooks}:sent`,
    /** Hash: webhook id -> epoch ms its one attempt in flight is leased until. */
    webhooksBusy: `${prefix}{webhooks}:busy`,
    /** String: the last delivery number. */
    deliverySeq: `${prefix}{webhooks}:seq`,
    /** Pub/sub channel of StoreEvent JSON. */
    events: `${prefix}events`,
  };
}

/** The keys of one shard of the counters: each call of indexClient-4.lua or indexClients-4.lua keeps all four. */
function statsShard(prefix: string) {
  return (tag: string) => ({
    /** Hash: state -> number of the shard's clients counted in it. */
    byState: `${prefix}{${tag}}:by-state`,
    /** Hash: client id -> "<iseq>:<state>", what the counters count it as. */
    counted: `${prefix}{${tag}}:counted`,
    /** Sorted set: failing or rejected client ids scored by when they started failing. */
    failing: `${prefix}{${tag}}:failing`,
    /** Sorted set: ids of deleted clients scored by when (epoch ms), so a late index step cannot count them again. */
    removed: `${prefix}{${tag}}:removed`,
  });
}

export type RedisKeys = ReturnType<typeof redisKeys>;
export type StatsShardKeys = RedisKeys['statsShards'][number];
