-- A client hash's record, status and token (parts c, s and t: compact JSON, redis-entry-codec.ts) are split in
-- chunks c, c1, c2, ... of at most PART_CHUNK bytes, cut between UTF-8 characters: with every value that short,
-- Redis keeps the hash listpack-encoded (hash-max-listpack-value, 64 by default). A hash of the layout before
-- holds the full JSON under client, status and token instead: that field is read first, and removed when the
-- part is written.
local PART_CHUNK = 64
-- Redis's default hash-max-listpack-entries.
local LISTPACK_ENTRIES = 128
local LEGACY_FIELD = { c = 'client', s = 'status', t = 'token' }

-- The part's JSON, or false when the hash has none.
local function readPart(key, part)
  local legacy = redis.call('HGET', key, LEGACY_FIELD[part])
  if legacy then return legacy end
  local first = redis.call('HGET', key, part)
  if not first then return false end
  local chunks, index = { first }, 1
  local chunk = redis.call('HGET', key, part .. index)
  while chunk do
    chunks[#chunks + 1] = chunk
    index = index + 1
    chunk = redis.call('HGET', key, part .. index)
  end
  return table.concat(chunks)
end

-- Removes the part (both layouts): the layout before's field and the chunks from the index-th on.
local function removePartFrom(key, part, index)
  -- Usually one command: the first of these fields that exists is most often none.
  local removed = redis.call('HDEL', key, LEGACY_FIELD[part], index == 0 and part or part .. index)
  while removed > 0 do
    index = index + 1
    removed = redis.call('HDEL', key, part .. index)
  end
end

local function removePart(key, part)
  removePartFrom(key, part, 0)
end

-- Writes the part, and any further field/value pairs given in the same HSET.
local function writePart(key, part, json, ...)
  local args, length, from, index = { ... }, #json, 1, 0
  repeat
    local to = math.min(from + PART_CHUNK - 1, length)
    -- Never between the bytes of one character: each chunk reads back as text on its own.
    while to < length and to > from do
      local nextByte = string.byte(json, to + 1)
      if nextByte < 128 or nextByte >= 192 then break end
      to = to - 1
    end
    args[#args + 1] = index == 0 and part or part .. index
    args[#args + 1] = string.sub(json, from, to)
    from, index = to + 1, index + 1
  until from > length
  redis.call('HSET', key, unpack(args))
  removePartFrom(key, part, index)
end
-- A property of a decoded part in either layout (its short or its long name); nil for null.
local function property(decoded, short, long)
  local value = decoded[short]
  if value == nil then value = decoded[long] end
  if value == cjson.null then return nil end
  return value
end

-- Redis never turns a hashtable back into a listpack by itself: a hash that became one (an outbox event, the
-- layout before) is written anew once every field is short again, which makes it a listpack. The full JSON of the
-- layout before is moved into chunks as it is: it decodes as well as the compact form.
local function compactHash(key)
  if redis.call('OBJECT', 'ENCODING', key) ~= 'hashtable' then return end
  for part, field in pairs(LEGACY_FIELD) do
    local legacy = redis.call('HGET', key, field)
    if legacy then writePart(key, part, legacy) end
  end
  local fields = redis.call('HGETALL', key)
  if #fields > 2 * LISTPACK_ENTRIES then return end
  for index = 1, #fields do
    if #fields[index] > PART_CHUNK then return end
  end
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(fields))
end
