--[[
  Moves one event to the delivery queue: one delivery per webhook that wants
  it (its events and workspaces match; or only the webhook named). Idempotent:
  a delivery is keyed by webhook id and event id, so running it again (the
  repair of a crash between the outbox and here) queues nothing twice. All
  six keys share the {webhooks} hash tag: one slot.

  Input:
    KEYS[1] webhooks (hash: webhook id -> record JSON)
    KEYS[2] deliveries (hash: delivery id -> record JSON)
    KEYS[3] due (sorted set: pending delivery id scored by its next attempt, epoch ms;
            a claim moves it to the lease's end)
    KEYS[4] log (sorted set, all scores 0: "<webhook id>|<delivery id>", for newest-first pages per webhook)
    KEYS[5] sent (hash: "<webhook id>|<event id>" -> delivery id)
    KEYS[6] sequence (string: the last delivery number)

    ARGV[1] JSON {
              event: { id: string, type: string, data: { workspaceId: string | null } },
              body: string,          what every attempt sends
              now: number,           epoch ms: the first attempt is due now
              nowIso: string,
              onlyWebhookId?: string
            }

  Output:
    the number of deliveries queued by this run
]]
local input = cjson.decode(ARGV[1])
local event = input.event

local function contains(list, value)
  for _, item in ipairs(list) do
    if item == value then return true end
  end
  return false
end

local function wants(hook)
  if input.onlyWebhookId then return hook.id == input.onlyWebhookId end
  if event.type == 'webhook.test' then return false end
  local workspace = event.data.workspaceId
  local typeMatches = contains(hook.events, '*') or contains(hook.events, event.type)
  local workspaceMatches = contains(hook.workspaces, '*')
    or (type(workspace) == 'string' and contains(hook.workspaces, workspace))
  return typeMatches and workspaceMatches
end

local queued = 0
local hooks = redis.call('HVALS', KEYS[1])
for _, json in ipairs(hooks) do
  local hook = cjson.decode(json)
  if wants(hook) and redis.call('HEXISTS', KEYS[5], hook.id .. '|' .. event.id) == 0 then
    local id = string.format('dlv_%016d', redis.call('INCR', KEYS[6]))
    redis.call('HSET', KEYS[5], hook.id .. '|' .. event.id, id)
    redis.call('HSET', KEYS[2], id, cjson.encode({
      id = id, webhookId = hook.id, eventId = event.id, type = event.type, body = input.body, attempts = 0,
      state = 'pending', lastStatus = cjson.null, lastAttemptAt = cjson.null, nextAttemptAt = input.nowIso,
      createdAt = input.nowIso,
    }))
    redis.call('ZADD', KEYS[3], input.now, id)
    redis.call('ZADD', KEYS[4], 0, hook.id .. '|' .. id)
    queued = queued + 1
  end
end
return queued
