--[[
  Replaces a webhook's sealed secret with the same secret sealed under
  another key, only while it still holds the sealed value that was read: a
  webhook deleted (or created again) in between is left alone.

  Input:
    KEYS[1] webhooks (hash: webhook id -> record JSON)

    ARGV[1] webhook id
    ARGV[2] the sealed secret that was read
    ARGV[3] the new sealed secret

  Output:
    1 replaced, 0 the webhook is gone or changed
]]
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return 0 end
local record = cjson.decode(json)
if record.sealedSecret ~= ARGV[2] then return 0 end
record.sealedSecret = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
return 1
