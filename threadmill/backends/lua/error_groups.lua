-- error_groups: how many of `count` tasks of one index, from position `offset` newest first,
-- ended in each exception class (of their last error, see last_error_class). Read-only;
-- cost O(log n + count): the caller walks a long list in short calls.
-- flags: no-writes
-- KEYS[1] index: the index (K.index), newest last (a finished state's)
-- ARGV[1] base: the alias's key base (task records)
-- ARGV[2] offset: the first position to examine, newest first
-- ARGV[3] count: examine at most this many tasks
-- Returns {total, examined, class1, count1, class2, count2, ...} in the order each class was
--   first met ('' for a task with no error recorded).
local base = ARGV[1]
local offset = tonumber(ARGV[2])
local total = redis.call('ZCARD', KEYS[1])
local ids = redis.call('ZRANGE', KEYS[1], offset, offset + tonumber(ARGV[3]) - 1, 'REV')
local counts, order = {}, {}
for _, id in ipairs(ids) do
  local cls = last_error_class(redis.call('HGET', K.task(base, id), 'errors')) or ''
  if counts[cls] == nil then
    counts[cls] = 0
    order[#order + 1] = cls
  end
  counts[cls] = counts[cls] + 1
end
local out = {total, #ids}
for _, cls in ipairs(order) do
  out[#out + 1] = cls
  out[#out + 1] = counts[cls]
end
return out
