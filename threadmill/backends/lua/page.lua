-- page: one page of an index with every record on it. Read-only; cost O(log n + limit).
-- flags: no-writes
-- KEYS[1] the index
-- ARGV[1] base, ARGV[2] offset, ARGV[3] limit, ARGV[4] '1' for newest first
-- Returns {total, id1, score1, fields1 (flat HGETALL), id2, ...}.
local base = ARGV[1]
local start = tonumber(ARGV[2])
local stop = start + tonumber(ARGV[3]) - 1
local ids
if ARGV[4] == '1' then
  ids = redis.call('ZRANGE', KEYS[1], start, stop, 'REV', 'WITHSCORES')
else
  ids = redis.call('ZRANGE', KEYS[1], start, stop, 'WITHSCORES')
end
local out = {redis.call('ZCARD', KEYS[1])}
for i = 1, #ids, 2 do
  local key = task_key(base, ids[i])
  table.insert(out, ids[i])
  table.insert(out, ids[i + 1])
  if redis.call('TYPE', key)['ok'] == 'hash' then
    table.insert(out, redis.call('HGETALL', key))
  else
    table.insert(out, {})
  end
end
return out
