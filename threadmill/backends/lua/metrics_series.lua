-- metrics_series: run metrics per (queue, task path): counts, run-time buckets, the newest
-- failures. Forgets series not acknowledged for metrics_window (their totals go too).
-- Cost O(series x minutes in range) (range 0: O(series)).
-- KEYS[1] series: the run-metrics series index (K.metrics_series)
-- ARGV[1] base: the alias's key base
-- ARGV[2] range_ms: add up the minutes of this span, ending now (0: the totals since each
--   series was first seen, with the sum of run times instead of the longest run)
-- ARGV[3] window_ms: metrics_window in ms; older series are forgotten (0: keep them)
-- ARGV[4] failures: how many of the newest failures of each series to return
-- ARGV[5] queue: only this queue ('' = every queue)
-- ARGV[6] path: only this task path ('' = every task path)
-- Returns {now_ms, then per series: {queue, path, last_seen_ms, ok, fail, retry, sum or '',
--   max or '', {count of bucket 1..16}, {failure entries, newest first}}}
local base, range_ms, window_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local failures, only_queue, only_path = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local now = now_ms()
if window_ms > 0 then
  local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window_ms, 'LIMIT', 0, 1000)
  for _, member in ipairs(old) do
    local queue, path = string.match(member, '^(.*)\t(.*)$')
    if queue then
      redis.call('DEL', K.metrics_total(base, queue, path))
    end
    redis.call('ZREM', KEYS[1], member)
  end
end
local current = math.floor(now / 60000)
local first = math.floor((now - range_ms) / 60000) + 1
local since = range_ms > 0 and first * 60000 or '-inf' -- (a series' score: see record_run)
local members = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES')
local out = {now}
for i = 1, #members, 2 do
  local queue, path = string.match(members[i], '^(.*)\t(.*)$')
  if queue and (only_queue == '' or only_queue == queue)
      and (only_path == '' or only_path == path) then
    local c = {ok = 0, fail = 0, retry = 0}
    local buckets = {}
    for b = 1, #RUN_BUCKETS_MS + 1 do
      buckets[b] = 0
    end
    local sum, max = '', ''
    local hashes = {}
    if range_ms > 0 then
      max = 0
      for minute = first, current do
        table.insert(hashes, redis.call('HGETALL', K.metrics_task(base, minute, queue, path)))
      end
    else
      sum = 0
      hashes[1] = redis.call('HGETALL', K.metrics_total(base, queue, path))
    end
    for _, h in ipairs(hashes) do
      for j = 1, #h, 2 do
        local field, value = h[j], tonumber(h[j + 1]) or 0
        local b = tonumber(string.match(field, '^b(%d+)$'))
        if b and buckets[b] then
          buckets[b] = buckets[b] + value
        elseif field == 'max' then
          max = math.max(max, value)
        elseif field == 'sum' then
          sum = sum + value
        elseif c[field] then
          c[field] = c[field] + value
        end
      end
    end
    local recent = {}
    if failures > 0 then
      recent = redis.call('LRANGE', K.metrics_failures(base, queue, path), 0, failures - 1)
    end
    table.insert(out, {queue, path, tonumber(members[i + 1]), c.ok, c.fail, c.retry, sum, max,
      buckets, recent})
  end
end
return out
