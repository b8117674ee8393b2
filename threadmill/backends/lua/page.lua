-- page: one page of an index with every record on it, in index order. Read-only.
-- Without a text: positions offset .. offset + limit - 1, cost O(log n + limit).
-- With a text: only tasks whose path contains it (plain substring), examining at most `scan`
-- positions from offset, so the cost is O(log n + scan) whatever the size of the index; the
-- caller continues from the position where this call stopped.
-- flags: no-writes
-- KEYS[1] index: the index (K.index)
-- ARGV[1] base: the alias's key base (task records)
-- ARGV[2] offset
-- ARGV[3] limit
-- ARGV[4] newest_first: '1' for newest first
-- ARGV[5] text: '' = every task
-- ARGV[6] scan: positions examined at most, with a text
-- Returns {total, next_offset, id1, score1, fields1 (flat HGETALL), id2, ...}: next_offset
--   is the position after the last one examined.
local base, text = ARGV[1], ARGV[5]
local offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local total = redis.call('ZCARD', KEYS[1])
local out = {total, offset}

local function positions(start, stop)
  if ARGV[4] == '1' then
    return redis.call('ZRANGE', KEYS[1], start, stop, 'REV', 'WITHSCORES')
  end
  return redis.call('ZRANGE', KEYS[1], start, stop, 'WITHSCORES')
end

local function add(id, score, key)
  table.insert(out, id)
  table.insert(out, score)
  if redis.call('TYPE', key)['ok'] == 'hash' then
    table.insert(out, redis.call('HGETALL', key))
  else
    table.insert(out, {})
  end
end

if text == '' then
  local ids = positions(offset, offset + limit - 1)
  for i = 1, #ids, 2 do
    add(ids[i], ids[i + 1], K.task(base, ids[i]))
  end
  out[2] = offset + #ids / 2
  return out
end

local pos, found = offset, 0
local last = math.min(total, offset + tonumber(ARGV[6])) -- one past the last to examine
while pos < last and found < limit do
  local ids = positions(pos, math.min(pos + 500, last) - 1)
  if #ids == 0 then
    break
  end
  for i = 1, #ids, 2 do
    pos = pos + 1
    local key = K.task(base, ids[i])
    local path = redis.pcall('HGET', key, 'path')
    if type(path) == 'string' and string.find(path, text, 1, true) then
      add(ids[i], ids[i + 1], key)
      found = found + 1
      if found >= limit then
        break
      end
    end
  end
end
out[2] = pos
return out
