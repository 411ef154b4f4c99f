--[[
  Clears a client's "index pending" mark once the index step for that
  sequence has run; a later write's mark (another sequence) stays.

  Input:
    KEYS[1] client hash

    ARGV[1] the index sequence that was indexed

  Output:
    1 cleared, 0 the mark named another sequence (or the client is gone)
]]
if redis.call('HGET', KEYS[1], 'unindexed') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'unindexed')
return 1
