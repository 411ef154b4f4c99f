--[[
  Takes the clients that are due and leases them, so other replicas do not
  take them again unless the taker dies before rescheduling them.

  Input:
    KEYS[1] the schedule (sorted set: client id scored by due time, epoch ms)

    ARGV[1] now: take clients due at or before this time
    ARGV[2] leaseUntil: the due time the taken clients get
    ARGV[3] limit: the most clients to take

  Output:
    {claimed, next}
      claimed  flat id/due-time array of the clients taken, earliest first
      next     {id, dueAt} of the earliest client left in the schedule, leases included; empty when none
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[3])
for index = 1, #due, 2 do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[index]) end
return {due, redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')}
