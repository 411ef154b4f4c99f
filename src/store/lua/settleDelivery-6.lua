--[[
  Records one attempt of a claimed delivery, fenced on its attempts so far:
  a replica whose lease lapsed while another already settled the attempt
  writes nothing. A pending delivery is due again at its next attempt; a
  delivered or failed one leaves the queue. Either way its webhook is free
  for its next delivery: the ones a claim parked at its lease end (see
  claimDeliveries-4.lua) are due now.
  A delivery that ends (delivered or failed) also bounds its webhook's
  records: it joins the webhook's settled set, and beyond the newest `keep`
  settled ones the oldest are dropped (record, log entry, settled entry,
  dedup entry), so a webhook holds at most `keep` settled records besides its
  pending ones (each joins the set when it ends). Usually one goes per
  settle; the cap bounds one run after `keep` was lowered. Once its dedup entry is gone,
  an event queued again (a crash repair, very late) is delivered again: at
  least once allows it.

  Input:
    KEYS[1] deliveries (hash: delivery id -> record JSON)
    KEYS[2] due (sorted set: delivery id scored by its next attempt, epoch ms)
    KEYS[3] busy (hash: webhook id -> epoch ms its attempt in flight is leased until)
    KEYS[4] log (sorted set, all scores 0: "<webhook id>|<delivery id>")
    KEYS[5] sent (hash: "<webhook id>|<event id>" -> delivery id)
    KEYS[6] settled (sorted set, all scores 0: "<webhook id>|<delivery id>" of the delivered or failed ones)

    ARGV[1] delivery id
    ARGV[2] the attempts the claim saw
    ARGV[3] JSON { state: string, lastStatus: number | null, lastAttemptAt: string,
                   nextAttemptMs: number | null, nextAttemptAt: string | null, now: number,
                   keep: number, the settled records a webhook keeps }

  Output:
    1 written, 0 the delivery is gone or another claim settled this attempt
]]
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
local record = cjson.decode(json)
if record.state ~= 'pending' or record.attempts ~= tonumber(ARGV[2]) then return 0 end
local result = cjson.decode(ARGV[3])
record.attempts = record.attempts + 1
record.state = result.state
record.lastStatus = result.lastStatus
record.lastAttemptAt = result.lastAttemptAt
record.nextAttemptAt = result.nextAttemptAt
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
local parkedAt = redis.call('HGET', KEYS[3], record.webhookId)
redis.call('HDEL', KEYS[3], record.webhookId)
if parkedAt then
  for _, other in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], parkedAt, parkedAt)) do
    local otherJson = other ~= ARGV[1] and redis.call('HGET', KEYS[1], other)
    if otherJson and cjson.decode(otherJson).webhookId == record.webhookId then
      redis.call('ZADD', KEYS[2], result.now, other)
    end
  end
end
if result.state == 'pending' then
  redis.call('ZADD', KEYS[2], result.nextAttemptMs, ARGV[1])
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[6], 0, record.webhookId .. '|' .. ARGV[1])
-- Delivery ids are zero-padded and grow, so lexical order is age order.
local first, last = '[' .. record.webhookId .. '|', '[' .. record.webhookId .. '|~'
local excess = redis.call('ZLEXCOUNT', KEYS[6], first, last) - result.keep
if excess > 0 then
  for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[6], first, last, 'LIMIT', 0, math.min(excess, 100))) do
    local oldId = string.sub(member, #record.webhookId + 2)
    local oldJson = redis.call('HGET', KEYS[1], oldId)
    if oldJson then redis.call('HDEL', KEYS[5], record.webhookId .. '|' .. cjson.decode(oldJson).eventId) end
    redis.call('HDEL', KEYS[1], oldId)
    redis.call('ZREM', KEYS[4], member)
    redis.call('ZREM', KEYS[6], member)
  end
end
return 1
