--[[
  Claims pending deliveries due by now, in due order, at most one per webhook
  in the whole deployment: a webhook with an attempt in flight (its busy
  lease not yet lapsed) is skipped, so one slow or dead receiver holds one
  slot, and a receiver gets its events in order. A busy webhook's due
  delivery is parked at that webhook's lease end, out of the way of the
  others (settleDelivery-6.lua makes it due again as soon as the attempt in
  flight settles). Each claimed delivery moves
  to the lease's end, so no other replica claims it while this one attempts
  it, and another does when the lease lapses (this one died). A delivery
  whose webhook is gone is dropped from the queue instead.

  Input:
    KEYS[1] due (sorted set: delivery id scored by its next attempt, epoch ms)
    KEYS[2] deliveries (hash: delivery id -> record JSON)
    KEYS[3] webhooks (hash: webhook id -> record JSON)
    KEYS[4] busy (hash: webhook id -> epoch ms its attempt in flight is leased until)

    ARGV[1] now, epoch ms
    ARGV[2] lease end, epoch ms
    ARGV[3] at most this many
    ARGV[4] look at most this many due entries

  Output:
    the claimed deliveries' records (JSON)
]]
local now, leaseUntil, limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local claimed = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  if #claimed >= limit then break end
  local json = redis.call('HGET', KEYS[2], id)
  local record = json and cjson.decode(json)
  if not record or record.state ~= 'pending' or redis.call('HEXISTS', KEYS[3], record.webhookId) == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    local busyUntil = tonumber(redis.call('HGET', KEYS[4], record.webhookId) or '0')
    if busyUntil <= now then
      redis.call('HSET', KEYS[4], record.webhookId, leaseUntil)
      redis.call('ZADD', KEYS[1], leaseUntil, id)
      claimed[#claimed + 1] = json
    else
      redis.call('ZADD', KEYS[1], busyUntil, id)
    end
  end
end
return claimed
