--[[
  Extends a lock, only for its owner.

  Input:
    KEYS[1] the lock

    ARGV[1] owner
    ARGV[2] new time to live, ms

  Output:
    1 extended, 0 the owner did not hold it
]]
--- @include "includes/extendLockIfOwned"

return extendLockIfOwned(KEYS[1], ARGV[1], ARGV[2])
