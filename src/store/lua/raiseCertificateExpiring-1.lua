--[[
  Records a client.certificate_expiring event in the client's outbox (field
  ev:<event id>, as updateClient-2.lua records the events of a change of
  state), at most once per interval whatever the replica: the time of the
  last one is kept in the hash (field certWarnedAt, epoch ms) and checked in
  this same step. The caller then queues the event (dispatchEvent-6.lua) and
  removes it from the hash; a crash in between leaves it there, and the
  client's next refresh (lockAndRead-2.lua: it is always scheduled, and was
  just rescheduled by the refresh that raised this) or its delete queues it.

  Input:
    KEYS[1] client hash

    ARGV[1] now, epoch ms (decimal)
    ARGV[2] now, ISO 8601: the event's timestamp
    ARGV[3] the interval, ms

  Output:
    the event (JSON), or false when there is no such client or the last one is too recent
]]
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local warnedAt = tonumber(redis.call('HGET', KEYS[1], 'certWarnedAt') or '')
if warnedAt and now - warnedAt < tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[1], 'certWarnedAt', ARGV[1])
local client = cjson.decode(redis.call('HGET', KEYS[1], 'client'))
local status = cjson.decode(redis.call('HGET', KEYS[1], 'status'))
local id = 'evt_' .. client.id .. '_cert_' .. ARGV[1]
local event = cjson.encode({ id = id, type = 'client.certificate_expiring', timestamp = ARGV[2], data = {
  clientId = client.id, workspaceId = client.workspaceId, name = client.name, state = status.state,
  lastError = status.lastError, failingSince = status.failingSince,
  certificateExpiresAt = client.certificateExpiresAt or cjson.null } })
redis.call('HSET', KEYS[1], 'ev:' .. id, event)
return event
