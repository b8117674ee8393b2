-- page: one page of an index with every record on it, in index order: positions offset ..
-- offset + limit - 1, cost O(log n + limit). Read-only. (A filtered page is search.lua.)
-- flags: no-writes
-- KEYS[1] index: the index (K.index)
-- ARGV[1] base: the alias's key base (task records)
-- ARGV[2] offset
-- ARGV[3] limit
-- ARGV[4] newest_first: '1' for newest first
-- Returns {total, next_offset, id1, score1, fields1 (flat HGETALL), id2, ...}: next_offset
--   is the position after the last one on the page.
local base = ARGV[1]
local offset, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local total = redis.call('ZCARD', KEYS[1])
local out = {total, offset}

local ids
if ARGV[4] == '1' then
  ids = redis.call('ZRANGE', KEYS[1], offset, offset + limit - 1, 'REV', 'WITHSCORES')
else
  ids = redis.call('ZRANGE', KEYS[1], offset, offset + limit - 1, 'WITHSCORES')
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

for i = 1, #ids, 2 do
  add(ids[i], ids[i + 1], K.task(base, ids[i]))
end
out[2] = offset + #ids / 2
return out
