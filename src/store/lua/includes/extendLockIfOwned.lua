-- Pushes the expiry of the lock at lockKey to ttlMs from now when `owner` holds it; returns 1 when it did, 0 otherwise.
local function extendLockIfOwned(lockKey, owner, ttlMs)
  if redis.call('GET', lockKey) == owner then return redis.call('PEXPIRE', lockKey, ttlMs) end
  return 0
end
