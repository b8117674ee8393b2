-- page_named: the tasks of an index whose task path contains a text, in index order,
-- scanning at most `scan` positions from `offset`: a request costs O(log n + scan) whatever
-- the size of the index, and the caller continues from the position where this one stopped.
-- flags: no-writes
-- KEYS[1] the index
-- ARGV[1] base, ARGV[2] offset, ARGV[3] limit, ARGV[4] '1' for newest first, ARGV[5] the
--   text (plain substring of the task path), ARGV[6] scan (positions at most)
-- Returns {total, next_offset, id1, score1, fields1 (flat HGETALL), id2, ...}: next_offset
--   is the position after the last one examined.
local base, text = ARGV[1], ARGV[5]
local offset, limit, scan = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[6])
local total = redis.call('ZCARD', KEYS[1])
local out = {total, offset}
local pos, found = offset, 0
local last = math.min(total, offset + scan) -- one past the last position to examine
while pos < last and found < limit do
  local stop = math.min(pos + 500, last) - 1
  local ids
  if ARGV[4] == '1' then
    ids = redis.call('ZRANGE', KEYS[1], pos, stop, 'REV', 'WITHSCORES')
  else
    ids = redis.call('ZRANGE', KEYS[1], pos, stop, 'WITHSCORES')
  end
  if #ids == 0 then
    break
  end
  for i = 1, #ids, 2 do
    pos = pos + 1
    local key = task_key(base, ids[i])
    local path = redis.pcall('HGET', key, 'path')
    if type(path) == 'string' and string.find(path, text, 1, true) then
      table.insert(out, ids[i])
      table.insert(out, ids[i + 1])
      table.insert(out, redis.call('HGETALL', key))
      found = found + 1
      if found >= limit then
        break
      end
    end
  end
end
out[2] = pos
return out
