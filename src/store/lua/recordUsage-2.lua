--[[
  Records a replica's batch of usage times, keeping for each id the later of
  the stored time and the given one: replicas flush independently, and a late
  flush of an older time must not move a time back.

  Input:
    KEYS[1] hash: client id -> epoch ms of the last token served for it
    KEYS[2] hash: service key id -> epoch ms of the last token served to it

    ARGV[1] JSON {clients, serviceKeys}: per hash, a flat id/epoch-ms array (times as decimal strings)

  Output:
    the number of times moved forward
]]
local batch = cjson.decode(ARGV[1])

local function keepLatest(key, stamps)
  local moved = 0
  for index = 1, #stamps, 2 do
    local id, at = stamps[index], stamps[index + 1]
    local stored = tonumber(redis.call('HGET', key, id))
    if stored == nil or stored < tonumber(at) then
      redis.call('HSET', key, id, at)
      moved = moved + 1
    end
  end
  return moved
end

return keepLatest(KEYS[1], batch.clients) + keepLatest(KEYS[2], batch.serviceKeys)
