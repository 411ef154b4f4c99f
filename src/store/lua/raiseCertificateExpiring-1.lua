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
    ARGV[4] the client's id

  Output:
    the event (JSON), or false when there is no such client or the last one is too recent
]]
--- @include "includes/clientParts"

-- ISO 8601 of epoch ms, as JavaScript's toISOString writes it (days to a civil date: H. Hinnant's algorithm). The
-- compact record keeps certificateExpiresAt as epoch ms (redis-entry-codec.ts); the event carries ISO 8601.
local function isoOf(ms)
  local days = math.floor(ms / 86400000)
  local rest = ms - days * 86400000
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', year, month, doy - math.floor((153 * mp + 2) / 5) + 1,
    math.floor(rest / 3600000), math.floor(rest / 60000) % 60, math.floor(rest / 1000) % 60, rest % 1000)
end

local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local warnedAt = tonumber(redis.call('HGET', KEYS[1], 'certWarnedAt') or '')
if warnedAt and now - warnedAt < tonumber(ARGV[3]) then return false end
redis.call('HSET', KEYS[1], 'certWarnedAt', ARGV[1])
local client = cjson.decode(readPart(KEYS[1], 'c'))
local status = cjson.decode(readPart(KEYS[1], 's'))
local expiresAt = property(client, 'cx', 'certificateExpiresAt')
if type(expiresAt) == 'number' then expiresAt = isoOf(expiresAt) end
local id = 'evt_' .. ARGV[4] .. '_cert_' .. ARGV[1]
local event = cjson.encode({ id = id, type = 'client.certificate_expiring', timestamp = ARGV[2], data = {
  clientId = ARGV[4], workspaceId = property(client, 'w', 'workspaceId'), name = property(client, 'n', 'name'),
  state = redis.call('HGET', KEYS[1], 'state'), lastError = property(status, 'le', 'lastError') or cjson.null,
  failingSince = property(status, 'fs', 'failingSince') or cjson.null, certificateExpiresAt = expiresAt or cjson.null } })
redis.call('HSET', KEYS[1], 'ev:' .. id, event)
-- An outbox field is longer than a listpack value: updateClient-2.lua compacts the hash once it is dispatched.
return event
