-- sample_queues: the number of READY tasks of each listed queue and the age of its oldest,
-- written into the current minute's run-metrics hash (K.metrics_minute) as '<queue>:depth'
-- and '<queue>:age' (ms), for the overview's "queue depth over time" chart. A pool's broker
-- adds this call to its maintenance round trip once a minute; the first sample of a minute
-- wins (HSETNX), so however many pools run, a minute has one sample per queue.
-- flags: allow-oom (two small fields a queue a minute; maintenance must not fail on them)
-- KEYS[1] series: the run-metrics series index (K.metrics_series; the call's hash slot)
-- ARGV[1] base: the alias's key base (queue indexes, task records, metrics keys)
-- ARGV[2] window_ms: how long the minute's hash is kept (metrics_window)
-- ARGV[3..] queues
-- Returns how many queues this call sampled (0: the minute had its samples already).
local base, window = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local minute = math.floor(now / 60000)
local key = K.metrics_minute(base, minute)
local written = 0
for i = 3, #ARGV do
  local queue = ARGV[i]
  local ready = K.index(base, queue, 'ready')
  if redis.call('HSETNX', key, queue .. ':depth', redis.call('ZCARD', ready)) == 1 then
    written = written + 1
    local at = oldest_ready_at(base, ready)
    if at then
      redis.call('HSET', key, queue .. ':age', math.max(now - at, 0))
    end
  end
end
if written > 0 then
  redis.call('PEXPIREAT', key, (minute + 1) * 60000 + window)
end
return written
