-- reap_workers: workers whose pool stopped sending heartbeats (dead host, killed pool) are
-- resolved like a crashed worker: their tasks are requeued or FAILED with WorkerLost.
-- flags: allow-oom
-- KEYS[1] seq, KEYS[2] stats, KEYS[3] worker registry, KEYS[4] pool registry
-- ARGV[1] base, ARGV[2] batch, ARGV[3] max attempts, ARGV[4] result ttl ms,
--   ARGV[5] reap until (ms, Redis time; '' = no limit): a call run later than that is
--   stale (it waited out a stall in which no heartbeat got through) and reaps nothing
-- Returns {worker_id1, n_tasks1, ...}.
local base = ARGV[1]
local now = now_ms()
if ARGV[5] ~= '' and now > tonumber(ARGV[5]) then
  return {}
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0,
  tonumber(ARGV[2]))
local out = {}
for _, worker_id in ipairs(dead) do
  local resolved = resolve_worker(base, KEYS[1], KEYS[3], worker_id,
    'worker ' .. worker_id .. ' stopped sending heartbeats', tonumber(ARGV[3]), now,
    tonumber(ARGV[4]))
  table.insert(out, worker_id)
  table.insert(out, #resolved / 2)
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
return out
