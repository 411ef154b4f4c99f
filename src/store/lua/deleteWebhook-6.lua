--[[
  Deletes a webhook with its delivery records (record, log entry, dedup entry)
  and its in-flight mark, and announces it, in one step: nothing of a deleted
  webhook is kept, and the records of the others stay bounded by
  settleDelivery-6.lua. Its deliveries still in the due set are dropped at
  their next claim (claimDeliveries-4.lua finds no record); an attempt in
  flight settles nothing (settleDelivery-6.lua finds no record). The work is
  the webhook's records: about DELIVERIES_KEPT_PER_WEBHOOK plus its pending.

  Input:
    KEYS[1] webhooks (hash: webhook id -> record JSON)
    KEYS[2] deliveries (hash: delivery id -> record JSON)
    KEYS[3] log (sorted set, all scores 0: "<webhook id>|<delivery id>")
    KEYS[4] sent (hash: "<webhook id>|<event id>" -> delivery id)
    KEYS[5] busy (hash: webhook id -> epoch ms its attempt in flight is leased until)
    KEYS[6] settled (sorted set, all scores 0: "<webhook id>|<delivery id>" of the delivered or failed ones)

    ARGV[1] webhook id
    ARGV[2] events channel
    ARGV[3] event to publish

  Output:
    1 deleted, 0 there was no such webhook (announced either way)
]]
local hook = ARGV[1]
local deleted = redis.call('HDEL', KEYS[1], hook)
local first, last = '[' .. hook .. '|', '[' .. hook .. '|~'
for _, member in ipairs(redis.call('ZRANGEBYLEX', KEYS[3], first, last)) do
  local id = string.sub(member, #hook + 2)
  local json = redis.call('HGET', KEYS[2], id)
  if json then redis.call('HDEL', KEYS[4], hook .. '|' .. cjson.decode(json).eventId) end
  redis.call('HDEL', KEYS[2], id)
end
redis.call('ZREMRANGEBYLEX', KEYS[3], first, last)
redis.call('ZREMRANGEBYLEX', KEYS[6], first, last)
redis.call('HDEL', KEYS[5], hook)
redis.call('PUBLISH', ARGV[2], ARGV[3])
return deleted
