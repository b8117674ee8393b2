-- enqueue: create task records and put them in their queue (READY, or DEFERRED until due).
-- flags: (none: refused up front when Redis is at maxmemory, so nothing is half-written)
-- KEYS[1] seq counter, KEYS[2] queue-name set, KEYS[3] stats hash,
--   KEYS[4] ready, KEYS[5] deferred of the queue, KEYS[6..] one task record per task
-- ARGV[1] base, ARGV[2] queue, then 7 values per task:
--   id, path, priority, takes_context (0/1), run_after (ms, or ''), args JSON, kwargs JSON
-- Returns {now_ms, created_count, id1 status, id2 status, ...}; status is 'created' or
-- 'exists' (a retried enqueue of the same id writes nothing).
local base, queue = ARGV[1], ARGV[2]
local now = now_ms()
local created = 0
local out = {now, 0}
for i = 3, #ARGV, 7 do
  local id = ARGV[i]
  local key = task_key(base, id)
  if redis.call('EXISTS', key) == 1 then
    table.insert(out, 'exists')
  else
    local run_after = ARGV[i + 4]
    local priority = ARGV[i + 2]
    redis.call('HSET', key, 'path', ARGV[i + 1], 'queue', queue, 'priority', priority,
      'takes_context', ARGV[i + 3], 'run_after', run_after, 'args', ARGV[i + 5],
      'kwargs', ARGV[i + 6], 'enqueued_at', now, 'attempts', 0, 'losses', 0,
      'worker_ids', '[]', 'errors', '[]')
    if run_after ~= '' and tonumber(run_after) > now then
      redis.call('HSET', key, 'status', 'DEFERRED')
      redis.call('ZADD', KEYS[5], tonumber(run_after), id)
    else
      push_ready(base, KEYS[1], queue, id, priority, now)
    end
    created = created + 1
    table.insert(out, 'created')
  end
end
if created > 0 then
  redis.call('SADD', KEYS[2], queue)
  redis.call('HINCRBY', KEYS[3], queue .. ':enqueued', created)
end
out[2] = created
return out
