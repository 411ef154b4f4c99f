--[[
  Stores a new client hash, unless one with that id exists.

  Input:
    KEYS[1] client hash

    ARGV[1] JSON {
              client: string,      the client record, compact JSON (redis-entry-codec.ts)
              generation: string,  its generation
              state: string,       the status's state
              status: string,      the status, compact JSON
              token?: string,      the held token, compact JSON; absent when none
              seq: string,         its first index sequence, above any an earlier client of this id had
            }

  Output:
    1 stored, 0 a client with this id already exists
]]
--- @include "includes/clientParts"

if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local entry = cjson.decode(ARGV[1])
writePart(KEYS[1], 'c', entry.client, 'gen', entry.generation, 'state', entry.state, 'iseq', entry.seq,
  'unindexed', entry.seq)
writePart(KEYS[1], 's', entry.status)
if entry.token then writePart(KEYS[1], 't', entry.token) end
return 1
