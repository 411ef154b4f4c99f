--[[
  Extends many locks in one call, each only for its owner (BullMQ's
  extendLocks). Takes any number of keys: "-n" in the file name.

  Every lock key is passed in KEYS, so the script stays correct on one Redis.
  Each lock carries its client's hash tag, so on Redis Cluster the caller
  will have to group the locks by slot and make one call per slot.

  Input:
    KEYS[1..n] the locks

    ARGV[1]   new time to live, ms
    ARGV[1+i] owner of KEYS[i]

  Output:
    the indexes i (1-based) of the locks KEYS[i] whose owner no longer held them
]]
--- @include "includes/extendLockIfOwned"

local lost = {}
for index = 1, #KEYS do
  if extendLockIfOwned(KEYS[index], ARGV[index + 1], ARGV[1]) == 0 then lost[#lost + 1] = index end
end
return lost
