--[[
  Releases a lock, only for its owner.

  Input:
    KEYS[1] the lock

    ARGV[1] owner

  Output:
    1 released, 0 the owner did not hold it
]]
--- @include "includes/releaseLockIfOwned"

return releaseLockIfOwned(KEYS[1], ARGV[1])
