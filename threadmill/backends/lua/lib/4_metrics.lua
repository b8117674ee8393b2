-- ---- Run metrics (docs/metrics.md) ---------------------------------------------------------
-- Written by acknowledge.lua, in the call that stores the outcome (no extra round trip):
--   K.metrics_minute(minute)             hash '<queue>:<kind>' -> count, one per minute;
--                                        also '<queue>:depth' (READY tasks) and
--                                        '<queue>:age' (ms, the oldest), sampled once a
--                                        minute by sample_queues.lua
--   K.metrics_task(minute, queue, path)  hash kind -> count, 'b<i>' -> runs in run-time
--                                        bucket i, 'max' -> longest run (ms)
--   (both expire window_ms after their minute ends)
--   K.metrics_total(queue, path)         hash, the same counts since the series was first
--                                        seen (no 'max'; 'sum' of run ms): Prometheus
--   K.metrics_series                     zset '<queue>\t<path>' -> first run of its newest
--                                        minute (ms)
--   K.metrics_failures(queue, path)      list of the newest failed or retried attempts,
--                                        '<ms>\t<task id>\t<kind>\t<exception class>'
-- kind is 'ok' (SUCCESSFUL), 'fail' (FAILED) or 'retry' (failed, tried again later). A minute
-- is floor(ms / 60000) of Redis time.

-- Upper bounds (ms, inclusive) of the run-time buckets b1..b15; b16 holds longer runs.
-- threadmill.backends.metric_records.RUN_BUCKETS_MS is the same list (tested).
local RUN_BUCKETS_MS = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
  300000, 900000}
local METRIC_FAILURES_KEPT = 20

local function run_bucket(ms)
  for i, bound in ipairs(RUN_BUCKETS_MS) do
    if ms <= bound then
      return i
    end
  end
  return #RUN_BUCKETS_MS + 1
end

-- The ready time (ms) of the oldest task of a ready index, or nil when it is empty: the one
-- with the lowest sequence number, found by walking the head of each priority band in use
-- (at most 201 bands), so O(bands x log n), never O(n).
local function oldest_ready_at(base, ready)
  local oldest_seq, oldest_id = nil, nil
  local head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  local guard = 0
  while head[1] and guard < 201 do
    guard = guard + 1
    local score = tonumber(head[2])
    local band = math.floor(score / BAND)
    local seq = score - band * BAND
    if oldest_seq == nil or seq < oldest_seq then
      oldest_seq, oldest_id = seq, head[1]
    end
    head = redis.call('ZRANGE', ready, (band + 1) * BAND, '+inf', 'BYSCORE', 'LIMIT', 0, 1,
      'WITHSCORES')
  end
  if oldest_id then
    return tonumber(redis.call('HGET', K.task(base, oldest_id), 'ready_at'))
  end
  return nil
end

-- Count one acknowledged attempt (kind, run_ms from its lease to now) of task `path` in
-- queue; `value` is the attempt's TaskError JSON when it failed. window_ms 0: metrics off.
local function record_run(base, queue, path, kind, run_ms, now, window_ms, id, value)
  if window_ms <= 0 or not path or path == '' then
    return
  end
  run_ms = math.max(run_ms, 0)
  local minute = math.floor(now / 60000)
  local expire_at = (minute + 1) * 60000 + window_ms
  local bucket = 'b' .. run_bucket(run_ms)
  local totals = K.metrics_minute(base, minute)
  if redis.call('HINCRBY', totals, queue .. ':' .. kind, 1) == 1 then
    redis.call('PEXPIREAT', totals, expire_at)
  end
  local m = K.metrics_task(base, minute, queue, path)
  if redis.call('HINCRBY', m, kind, 1) == 1 then -- the first such run of the series this minute
    redis.call('PEXPIREAT', m, expire_at)
    redis.call('ZADD', K.metrics_series(base), now, queue .. '\t' .. path)
  end
  redis.call('HINCRBY', m, bucket, 1)
  if run_ms > (tonumber(redis.call('HGET', m, 'max')) or -1) then
    redis.call('HSET', m, 'max', run_ms)
  end
  local life = K.metrics_total(base, queue, path)
  redis.call('HINCRBY', life, kind, 1)
  redis.call('HINCRBY', life, bucket, 1)
  redis.call('HINCRBY', life, 'sum', run_ms)
  if kind ~= 'ok' then
    local ok, err = pcall(cjson.decode, value)
    local class = ok and type(err) == 'table' and err.exception_class_path or '?'
    local list = K.metrics_failures(base, queue, path)
    redis.call('LPUSH', list, now .. '\t' .. id .. '\t' .. kind .. '\t' .. tostring(class))
    redis.call('LTRIM', list, 0, METRIC_FAILURES_KEPT - 1)
    redis.call('PEXPIRE', list, window_ms)
  end
end

