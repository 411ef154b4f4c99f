--[[
  Compare-and-set on one field of a workspace's OAuth client id index.

  Input:
    KEYS[1] the workspace's client-ids hash (OAuth client id -> broker client id)

    ARGV[1] JSON {
              clientId: string,       the OAuth client id (the field)
              expectedOwner: string,  the broker client id it must name now
              newOwner?: string,      the broker client id it names after; absent removes the field
            }

  Output:
    1 replaced (or removed), 0 the field named another owner (or none): nothing changed
]]
local claim = cjson.decode(ARGV[1])
if redis.call('HGET', KEYS[1], claim.clientId) ~= claim.expectedOwner then return 0 end
if claim.newOwner then
  redis.call('HSET', KEYS[1], claim.clientId, claim.newOwner)
else
  redis.call('HDEL', KEYS[1], claim.clientId)
end
return 1
