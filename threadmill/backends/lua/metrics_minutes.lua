-- metrics_minutes: acknowledged runs per minute and queue, for the overview's chart. Read-only;
-- cost O(minutes x queues).
-- flags: no-writes
-- KEYS[1] series: the run-metrics series index (K.metrics_series)
-- ARGV[1] base: the alias's key base
-- ARGV[2] minutes: how many minutes, ending with the current one (Redis time)
-- Returns {now_ms, number of series (queue, task path) seen, then per minute, oldest first:
--   its start (ms), a flat list '<queue>:<kind>', count, ...} (kind: ok, fail, retry)
local base, minutes = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local current = math.floor(now / 60000)
local out = {now, redis.call('ZCARD', KEYS[1])}
for minute = current - minutes + 1, current do
  table.insert(out, minute * 60000)
  table.insert(out, redis.call('HGETALL', K.metrics_minute(base, minute)))
end
return out
