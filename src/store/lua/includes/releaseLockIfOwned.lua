-- Deletes the lock at lockKey when `owner` holds it; returns 1 when it did, 0 otherwise.
local function releaseLockIfOwned(lockKey, owner)
  if redis.call('GET', lockKey) == owner then return redis.call('DEL', lockKey) end
  return 0
end
