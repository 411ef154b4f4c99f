-- Counts one client as its change says (indexClient-4.lua's header has the keys and the change's fields).
-- Returns 1 when the counts changed, 0 when they already counted the client so (or it is deleted).
local function indexChange(change)
  local id = change.id
  local counted = redis.call('HGET', KEYS[2], id)
  local countedSeq, countedState = -1, false
  if counted then
    local separator = string.find(counted, ':', 1, true)
    countedSeq = tonumber(string.sub(counted, 1, separator - 1))
    countedState = string.sub(counted, separator + 1)
  end

  if change.state == nil then
    -- A tombstone, so that a write's index step arriving after the delete's cannot count the client again.
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', change.now - change.removedKeepMs)
    redis.call('ZADD', KEYS[4], change.now, id)
    redis.call('ZREM', KEYS[3], id)
    if not countedState then return 0 end
    redis.call('HINCRBY', KEYS[1], countedState, -1)
    redis.call('HDEL', KEYS[2], id)
    return 1
  end

  if change.fresh then redis.call('ZREM', KEYS[4], id) end
  if tonumber(change.seq) <= countedSeq or redis.call('ZSCORE', KEYS[4], id) then return 0 end
  if countedState ~= change.state then
    if countedState then redis.call('HINCRBY', KEYS[1], countedState, -1) end
    redis.call('HINCRBY', KEYS[1], change.state, 1)
  end
  redis.call('HSET', KEYS[2], id, change.seq .. ':' .. change.state)
  if change.failing then
    redis.call('ZADD', KEYS[3], change.score, id)
  else
    redis.call('ZREM', KEYS[3], id)
  end
  return 1
end
