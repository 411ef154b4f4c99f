--[[
  indexClient-4.lua for many clients in one call: a batch of new clients is
  counted with one script instead of one per client. Each change is applied
  as indexClient-4.lua applies it, in order, so the same idempotence holds.

  Input:
    KEYS[1] counters (hash: state -> number of clients counted in it)
    KEYS[2] counted (hash: client id -> "<index sequence>:<state>")
    KEYS[3] failing (sorted set: failing or rejected client id scored by when it started failing)
    KEYS[4] removed (sorted set: ids of deleted clients scored by when, epoch ms; kept removedKeepMs)

    ARGV[1] JSON array of changes, each as ARGV[1] of indexClient-4.lua

  Output:
    how many of the changes moved the counts
]]
--- @include "includes/indexChange"

local changed = 0
for _, change in ipairs(cjson.decode(ARGV[1])) do
  changed = changed + indexChange(change)
end
return changed
