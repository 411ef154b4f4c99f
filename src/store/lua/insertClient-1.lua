--[[
  Stores a new client hash, unless one with that id exists.

  Input:
    KEYS[1] client hash

    ARGV[1] JSON {
              client: string,      the client record, JSON
              generation: string,  its generation
              state: string,       the status's state
              status: string,      the status, JSON
              token?: string,      the held token, JSON; absent when none
              seq: string,         its first index sequence, above any an earlier client of this id had
            }

  Output:
    1 stored, 0 a client with this id already exists
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local entry = cjson.decode(ARGV[1])
redis.call('HSET', KEYS[1], 'client', entry.client, 'gen', entry.generation, 'state', entry.state,
  'status', entry.status, 'iseq', entry.seq, 'unindexed', entry.seq)
if entry.token then redis.call('HSET', KEYS[1], 'token', entry.token) end
return 1
