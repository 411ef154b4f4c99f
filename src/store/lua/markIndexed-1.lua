--[[
  Clears a client's "index pending" mark once the index step for that
  sequence has run; a later write's mark (another sequence) stays. The
  outbox was emptied before: a hash its events made a hashtable is made a
  listpack again (includes/clientParts.lua).

  Input:
    KEYS[1] client hash

    ARGV[1] the index sequence that was indexed

  Output:
    1 cleared, 0 the mark named another sequence (or the client is gone)
]]
--- @include "includes/clientParts"

if redis.call('HGET', KEYS[1], 'unindexed') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'unindexed')
compactHash(KEYS[1])
return 1
