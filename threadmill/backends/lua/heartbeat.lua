-- heartbeat: a pool says it and its workers are alive, and publishes their status.
-- flags: allow-oom (a full Redis must not make live pools look dead)
-- KEYS[1] workers: the worker registry (K.workers)
-- KEYS[2] pools: the pool registry (K.pools)
-- KEYS[3] pool: the pool's status hash (K.pool)
-- KEYS[4] meta: the alias's meta hash (K.meta)
-- ARGV[1] pool_id
-- ARGV[2] ttl_ms: heartbeat_ttl in ms
-- ARGV[3] report: the pool's report (JSON, see threadmill.backends.reports)
-- ARGV[4] epoch: a new data epoch, stored if there is none
-- ARGV[5..] worker_ids
-- Returns {now_ms, epoch, lost_at}: epoch is the data epoch in Redis (set to ARGV[4] if
-- missing); a pool that sees it change knows Redis lost its data.
local now = now_ms()
local ttl = tonumber(ARGV[2])
if #ARGV >= 5 then
  local members = {}
  for i = 5, #ARGV do
    table.insert(members, now + ttl)
    table.insert(members, ARGV[i])
  end
  redis.call('ZADD', KEYS[1], unpack(members))
end
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('HSET', KEYS[3], 'status', ARGV[3], 'seen_at', now)
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('HSETNX', KEYS[4], 'epoch', ARGV[4])
local meta = redis.call('HMGET', KEYS[4], 'epoch', 'lost_at')
return {now, meta[1], meta[2] or ''}
