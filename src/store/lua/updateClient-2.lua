--[[
  Writes the parts of a client that are given, fenced on its generation.
  The event is published in the same script, so no replica can miss a change
  that was written. The lock is released first when the owner named still
  holds it, whatever the outcome: a refresh ends with one write.
  A change of state bumps the client's index sequence and marks it "index
  pending" (field unindexed = that sequence) until the caller has run
  indexClient-4.lua and markIndexed-1.lua: a crash in between leaves the mark,
  and whoever next writes or claims the client finishes the step.
  A change of state that raises a webhook event (entered failing, entered
  rejected, back to ready from either) records it in the same step, in the
  client's hash (field ev:<event id>, the outbox): the caller moves it to the
  delivery queue (dispatchEvent-6.lua) before the index step, and removes it;
  a crash in between leaves both marks, and the same repair finishes both.

  Input:
    KEYS[1] client hash
    KEYS[2] the client's refresh lock

    ARGV[1] JSON {
              id: string,                  the client's id
              expectedGeneration: string,  the write applies only at this generation
              client?: string,             the new client record, compact JSON (redis-entry-codec.ts)
              generation?: string,         its generation (given with client)
              status?: string,             the new status, compact JSON
              state?: string,              its state (given with status)
              token?: string | null,       the new token, compact JSON; null removes the held token
              lockOwner?: string,          release the lock this owner holds
              now?: string,                ISO 8601 time of the write (given with status): the event's timestamp
            }
            An absent part is left as it is.
    ARGV[2] events channel
    ARGV[3] event to publish

  Output:
    {'ok'} | {'ok', seq, state, status, workspaceId, event...}
                                              the client is marked index pending at sequence seq
                                              (this write changed its state, or an earlier one did
                                              and its index step did not run); state and status
                                              are the stored ones (status as stored: compact JSON,
                                              or the full JSON of the layout before); each event is one of the
                                              outbox's events not yet dispatched (JSON)
    | {'stale'} | {'not_found'}
    | {'immutable'}  the client record would change the workspace or OAuth client id (the id is
                     the key's: the caller checks it)
]]
--- @include "includes/releaseLockIfOwned"
--- @include "includes/clientParts"

-- The same rule as clientEventType in webhook.types.ts.
local function eventType(from, to)
  if from == to then return nil end
  if to == 'failing' then return 'client.failing' end
  if to == 'rejected' then return 'client.rejected' end
  if to == 'ready' and (from == 'failing' or from == 'rejected') then return 'client.recovered' end
  return nil
end

local function recordEvent(id, kind, state, status, now)
  local client = cjson.decode(readPart(KEYS[1], 'c'))
  -- The index sequence is unique per change of state of this client; read back as a string to keep its digits.
  local eventId = 'evt_' .. id .. '_' .. redis.call('HGET', KEYS[1], 'iseq')
  local data = { clientId = id, workspaceId = property(client, 'w', 'workspaceId'),
    name = property(client, 'n', 'name'), state = state,
    lastError = property(status, 'le', 'lastError') or cjson.null,
    failingSince = property(status, 'fs', 'failingSince') or cjson.null }
  redis.call('HSET', KEYS[1], 'ev:' .. eventId,
    cjson.encode({ id = eventId, type = kind, timestamp = now, data = data }))
end

local change = cjson.decode(ARGV[1])
if change.lockOwner then releaseLockIfOwned(KEYS[2], change.lockOwner) end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
if redis.call('HGET', KEYS[1], 'gen') ~= change.expectedGeneration then return {'stale'} end
if change.client then
  local stored = cjson.decode(readPart(KEYS[1], 'c'))
  local incoming = cjson.decode(change.client)
  if property(stored, 'w', 'workspaceId') ~= property(incoming, 'w', 'workspaceId')
    or property(stored, 'i', 'clientId') ~= property(incoming, 'i', 'clientId') then
    return {'immutable'}
  end
  writePart(KEYS[1], 'c', change.client, 'gen', change.generation)
end
local previousState = redis.call('HGET', KEYS[1], 'state')
if change.status then
  writePart(KEYS[1], 's', change.status, 'state', change.state)
  if change.state ~= previousState then
    redis.call('HSET', KEYS[1], 'unindexed', redis.call('HINCRBY', KEYS[1], 'iseq', 1))
    local kind = eventType(previousState, change.state)
    if kind then recordEvent(change.id, kind, change.state, cjson.decode(change.status), change.now) end
  end
end
if change.token == cjson.null then
  removePart(KEYS[1], 't')
elseif change.token then
  writePart(KEYS[1], 't', change.token)
end
-- A hash of the layout before is a listpack once its last long field is gone.
compactHash(KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
local unindexed = redis.call('HGET', KEYS[1], 'unindexed')
-- Events are dispatched before the index step clears the mark: none can be pending without it.
if not unindexed then return {'ok'} end
local reply = {'ok', unindexed, redis.call('HGET', KEYS[1], 'state'), readPart(KEYS[1], 's'),
  property(cjson.decode(readPart(KEYS[1], 'c')), 'w', 'workspaceId')}
local fields = redis.call('HGETALL', KEYS[1])
for index = 1, #fields, 2 do
  if string.sub(fields[index], 1, 3) == 'ev:' then reply[#reply + 1] = fields[index + 1] end
end
return reply
