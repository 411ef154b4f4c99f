'use strict';
/**
 * The broker's schedule keys, from the compiled broker itself (dist), so the
 * harness reads the same layout the broker writes: 16 sorted sets, a client's
 * entry in the shard its id hashes to.
 */
const path = require('node:path');
const { DIST } = require('./options');

const PREFIX = 'tb:';
const { redisKeys } = require(path.join(DIST, 'store', 'redis', 'redis-keys.js'));
const keys = redisKeys(PREFIX);

/** The sorted set holding this client's due time. */
const scheduleKey = (id) => keys.schedule(id);
/** The hash holding this client. */
const clientKey = (id) => keys.client(id);
const scheduleShards = keys.scheduleShards;

/** The sum of one command's integer answers over every shard (ZCARD, ZCOUNT). */
async function overShards(redis, command, ...args) {
  const answers = await Promise.all(scheduleShards.map((key) => redis.call(command, key, ...args)));
  return answers.reduce((sum, answer) => sum + Number(answer), 0);
}

module.exports = { clientKey, scheduleKey, scheduleShards, overShards };
