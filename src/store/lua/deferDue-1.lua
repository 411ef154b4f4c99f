--[[
  Puts off the clients still due at the time given: a compare-and-set on
  their scores, so an entry claimed (leased), rescheduled or removed since
  keeps what it has.

  Input:
    KEYS[1] the schedule shard (sorted set: client id scored by due time, epoch ms)

    ARGV[1] from: the due time an entry must still have to move
    ARGV[2] until: the due time it gets
    ARGV[3..] client ids, all of this shard

  Output:
    the number of entries moved
]]
local from = tonumber(ARGV[1])
local moved = 0
for index = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[index])
  if score and tonumber(score) == from then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[index])
    moved = moved + 1
  end
end
return moved
