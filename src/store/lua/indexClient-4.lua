--[[
  Makes /health/tokens' counters and failing list count one client as it is
  now. Idempotent: it records, per client, the state it is counted under and
  the client's index sequence (bumped by every write that changes the state),
  so running it again, late, or out of order with another write's run never
  counts a client twice nor under an older state. All four keys are one shard
  of the counters and share its hash tag: one slot, so it is Cluster-safe.

  Input:
    KEYS[1] counters (hash: state -> number of clients counted in it)
    KEYS[2] counted (hash: client id -> "<index sequence>:<state>")
    KEYS[3] failing (sorted set: failing or rejected client id scored by when it started failing)
    KEYS[4] removed (sorted set: ids of deleted clients scored by when, epoch ms; kept removedKeepMs)

    ARGV[1] JSON {
              id: string,
              state?: string,      the client's state; absent: the client is deleted
              seq?: string,        its index sequence, decimal (given with state; a string, so
                                   that numbers above 1e14 keep every digit through Lua)
              fresh?: true,        the client was just inserted: an earlier client of this id is gone
              failing?: boolean,   whether it belongs in the failing list (given with state)
              score?: number,      its failing-list score (given with failing)
              now: number,         epoch ms
              removedKeepMs: number
            }

  Output:
    1 the counts changed, 0 they already counted the client so (or it is deleted)
]]
--- @include "includes/indexChange"

return indexChange(cjson.decode(ARGV[1]))
