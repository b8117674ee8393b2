-- search: one page of an index, only the tasks that pass a filter (see task_matches in
-- lib/6_filters.lua), in index order. Read-only. Examines at most `scan` positions from offset, so
-- the cost is O(log n + scan) whatever the size of the index; the caller continues from
-- the position where this call stopped (next_offset).
-- flags: no-writes
-- KEYS[1] index: the index (K.index, or a queue's retrying index)
-- ARGV[1] base: the alias's key base (task records)
-- ARGV[2] offset
-- ARGV[3] limit
-- ARGV[4] newest_first: '1' for newest first
-- ARGV[5] scan: positions examined at most
-- ARGV[6] path: substring of the task path ('' = any)
-- ARGV[7] error: class of the last error, full path or name ('' = any)
-- ARGV[8] worker: substring of the worker ids ('' = any)
-- ARGV[9] args: substring of the args or kwargs JSON ('' = any)
-- ARGV[10] since_ms: earliest time_field ('' = any)
-- ARGV[11] until_ms: latest time_field ('' = any)
-- ARGV[12] time_field: the record field since/until bound (finished_at, enqueued_at)
-- Returns {total, next_offset, id1, score1, fields1 (flat HGETALL), id2, ...}: next_offset
--   is the position after the last one examined.
local base = ARGV[1]
local offset, limit, scan = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local flt = make_filter(ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12])
local fields = filter_fields(flt)
local total = redis.call('ZCARD', KEYS[1])
local out = {total, offset}

local function positions(start, stop)
  if ARGV[4] == '1' then
    return redis.call('ZRANGE', KEYS[1], start, stop, 'REV', 'WITHSCORES')
  end
  return redis.call('ZRANGE', KEYS[1], start, stop, 'WITHSCORES')
end

local pos, found = offset, 0
local last = math.min(total, offset + scan) -- one past the last to examine
while pos < last and found < limit do
  local ids = positions(pos, math.min(pos + 500, last) - 1)
  if #ids == 0 then
    break
  end
  for i = 1, #ids, 2 do
    pos = pos + 1
    local key = K.task(base, ids[i])
    if task_matches(key, flt, fields) then
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
