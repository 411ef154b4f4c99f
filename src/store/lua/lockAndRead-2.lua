--[[
  Takes a client's refresh lock and reads the client in one step (both keys
  carry the client's hash tag), so the holder never sees a client older than
  its lock.

  Input:
    KEYS[1] the client's refresh lock
    KEYS[2] client hash

    ARGV[1] owner
    ARGV[2] lock time to live, ms

  Output:
    nil when another owner holds the lock; else the client hash's fields as a
    flat field/value array (empty for a client that does not exist)
]]
if not redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return false end
return redis.call('HGETALL', KEYS[2])
