--[[
  Removes a client hash and its lock, announcing it in the same step.

  Input:
    KEYS[1] client hash
    KEYS[2] the client's refresh lock

    ARGV[1] events channel
    ARGV[2] event to publish

  Output:
    the removed hash's fields as a flat field/value array, or nil when there was no such client
]]
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return fields
