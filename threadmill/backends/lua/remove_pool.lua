-- remove_pool: a pool stopped cleanly; forget it and its workers.
-- flags: allow-oom (a pool must be able to stop cleanly when Redis is full)
-- KEYS[1] workers: the worker registry (K.workers)
-- KEYS[2] pools: the pool registry (K.pools)
-- KEYS[3] pool: the pool's status hash (K.pool)
-- ARGV[1] pool_id
-- ARGV[2..] worker_ids
-- Returns 1.
if #ARGV >= 2 then
  redis.call('ZREM', KEYS[1], unpack(ARGV, 2))
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
