--[[
  Claims pending deliveries due by now: each is moved to the lease's end, so
  no other replica claims it while this one attempts it, and another does
  when the lease lapses (this one died). A delivery whose webhook is gone is
  dropped from the queue instead.

  Input:
    KEYS[1] due (sorted set: delivery id scored by its next attempt, epoch ms)
    KEYS[2] deliveries (hash: delivery id -> record JSON)
    KEYS[3] webhooks (hash: webhook id -> record JSON)

    ARGV[1] now, epoch ms
    ARGV[2] lease end, epoch ms
    ARGV[3] at most this many

  Output:
    the claimed deliveries' records (JSON)
]]
local claimed = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local json = redis.call('HGET', KEYS[2], id)
  local record = json and cjson.decode(json)
  if record and record.state == 'pending' and redis.call('HEXISTS', KEYS[3], record.webhookId) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    claimed[#claimed + 1] = json
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
