-- reap_workers: workers whose pool stopped sending heartbeats (dead host, killed pool) are
-- resolved like a crashed worker: their tasks are requeued or FAILED with WorkerLost.
-- flags: allow-oom
-- KEYS[1] workers: the worker registry (K.workers)
-- KEYS[2] pools: the pool registry (K.pools)
-- ARGV[1] base: the alias's key base (K.leases, K.parks and the tasks of each worker)
-- ARGV[2] batch: most workers resolved
-- ARGV[3] max_attempts
-- ARGV[4] result_ttl_ms
-- ARGV[5] until_ms: Redis time after which the call is stale ('' = no limit): a call run
--   later than that waited out a stall in which no heartbeat got through, and reaps nothing
-- Returns {worker_id1, n_tasks1, ...}.
local base = ARGV[1]
local now = now_ms()
if ARGV[5] ~= '' and now > tonumber(ARGV[5]) then
  return {}
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0,
  tonumber(ARGV[2]))
local out = {}
for _, worker_id in ipairs(dead) do
  local resolved = resolve_worker(base, KEYS[1], K.leases(base, worker_id), worker_id,
    'worker ' .. worker_id .. ' stopped sending heartbeats', tonumber(ARGV[3]), now,
    tonumber(ARGV[4]), true)
  table.insert(out, worker_id)
  table.insert(out, #resolved / 2)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return out
