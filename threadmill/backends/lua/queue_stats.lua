-- queue_stats: counts of each queue and the ready time of its oldest ready task. Read-only;
-- cost is O(priority levels in use x log n) per queue, never O(n).
-- flags: no-writes
-- KEYS[1] stats: the counters hash (K.stats)
-- KEYS[2] paused: the set of paused queues (K.paused)
-- KEYS[3..] indexes: 6 index keys per queue (ready, deferred, running, successful, failed,
--   retrying)
-- ARGV[1] base: the alias's key base (task records)
-- ARGV[2] window_ms: "finished in the last window"
-- ARGV[3..] queues
-- Returns {now_ms, then per queue: ready, deferred, running, successful, failed,
--   oldest_ready_at_ms or '', next_deferred_at_ms or '', successful_in_window,
--   failed_in_window, enqueued_total, successful_total, failed_total, retrying,
--   retried_total, paused (0/1)}
local base, window = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local out = {now}
for i = 3, #ARGV do
  local k = 3 + (i - 3) * 6
  local ready = KEYS[k]
  local counts = {}
  for j = 0, 5 do counts[j + 1] = redis.call('ZCARD', KEYS[k + j]) end
  local oldest = oldest_ready_at(base, ready) or ''
  local nxt = redis.call('ZRANGE', KEYS[k + 1], 0, 0, 'WITHSCORES')
  local queue = ARGV[i]
  local totals = redis.call('HMGET', KEYS[1], queue .. ':enqueued', queue .. ':successful',
    queue .. ':failed', queue .. ':retried')
  table.insert(out, counts[1])
  table.insert(out, counts[2])
  table.insert(out, counts[3])
  table.insert(out, counts[4])
  table.insert(out, counts[5])
  table.insert(out, oldest)
  table.insert(out, nxt[2] or '')
  table.insert(out, redis.call('ZCOUNT', KEYS[k + 3], now - window, '+inf'))
  table.insert(out, redis.call('ZCOUNT', KEYS[k + 4], now - window, '+inf'))
  table.insert(out, totals[1] or 0)
  table.insert(out, totals[2] or 0)
  table.insert(out, totals[3] or 0)
  table.insert(out, counts[6])
  table.insert(out, totals[4] or 0)
  table.insert(out, redis.call('SISMEMBER', KEYS[2], queue))
end
return out
