--[[
  Writes the parts of a client that are given, fenced on its generation.
  The event is published in the same script, so no replica can miss a change
  that was written. The lock is released first when the owner named still
  holds it, whatever the outcome: a refresh ends with one write.

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
    {'ok', previousState} | {'stale'} | {'not_found'}
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
if change.status then redis.call('HSET', KEYS[1], 'status', change.status, 'state', change.state) end
if change.token == cjson.null then
  redis.call('HDEL', KEYS[1], 'token')
elseif change.token then
  redis.call('HSET', KEYS[1], 'token', change.token)
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return {'ok', previousState}
