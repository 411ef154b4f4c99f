--[[
  Writes the parts of a client that are given, fenced on its generation.
  The event is published in the same script, so no replica can miss a change
  that was written. The lock is released first when the owner named still
  holds it, whatever the outcome: a refresh ends with one write.
  A change of state bumps the client's index sequence and marks it "index
  pending" (field unindexed = that sequence) until the caller has run
  indexClient-4.lua and markIndexed-1.lua: a crash in between leaves the mark,
  and whoever next writes or claims the client finishes the step.

  Input:
    KEYS[1] client hash
    KEYS[2] the client's refresh lock

    ARGV[1] JSON {
              expectedGeneration: string,  the write applies only at this generation
              client?: string,             the new client record, JSON
              generation?: string,         its generation (given with client)
              status?: string,             the new status, JSON
              state?: string,              its state (given with status)
              token?: string | null,       the new token, JSON; null removes the held token
              lockOwner?: string,          release the lock this owner holds
            }
            An absent part is left as it is.
    ARGV[2] events channel
    ARGV[3] event to publish

  Output:
    {'ok'} | {'ok', seq, status, workspaceId}  the client is marked index pending at sequence seq
                                              (this write changed its state, or an earlier one did
                                              and its index step did not run); status is the
                                              stored status (JSON)
    | {'stale'} | {'not_found'}
    | {'immutable'}  the client record would change the id, workspace or OAuth client id
]]
--- @include "includes/releaseLockIfOwned"

local change = cjson.decode(ARGV[1])
if change.lockOwner then releaseLockIfOwned(KEYS[2], change.lockOwner) end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
if redis.call('HGET', KEYS[1], 'gen') ~= change.expectedGeneration then return {'stale'} end
if change.client then
  local stored = cjson.decode(redis.call('HGET', KEYS[1], 'client'))
  local incoming = cjson.decode(change.client)
  if stored.id ~= incoming.id or stored.workspaceId ~= incoming.workspaceId
    or stored.clientId ~= incoming.clientId then
    return {'immutable'}
  end
  redis.call('HSET', KEYS[1], 'client', change.client, 'gen', change.generation)
end
local previousState = redis.call('HGET', KEYS[1], 'state')
if change.status then
  redis.call('HSET', KEYS[1], 'status', change.status, 'state', change.state)
  if change.state ~= previousState then
    redis.call('HSET', KEYS[1], 'unindexed', redis.call('HINCRBY', KEYS[1], 'iseq', 1))
  end
end
if change.token == cjson.null then
  redis.call('HDEL', KEYS[1], 'token')
elseif change.token then
  redis.call('HSET', KEYS[1], 'token', change.token)
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
local unindexed = redis.call('HGET', KEYS[1], 'unindexed')
if not unindexed then return {'ok'} end
local workspaceId = cjson.decode(redis.call('HGET', KEYS[1], 'client')).workspaceId
return {'ok', unindexed, redis.call('HGET', KEYS[1], 'status'), workspaceId}
