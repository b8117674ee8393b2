-- enqueue: create task records and put them in their queue (READY, or DEFERRED until due).
-- flags: (none: refused up front when Redis is at maxmemory, so nothing is half-written)
-- KEYS[1..] task: one task record per task, in the order of the tasks in ARGV
-- ARGV[1] base: the alias's key base (the queue's indexes, K.seq, K.queues, K.stats)
-- ARGV[2] queue
-- ARGV[3..] tasks: 7 values per task: id, path, priority, takes_context (0/1), run_after
--   (ms, or ''), args JSON, kwargs JSON
-- Returns now_ms (the tasks' enqueued_at). A retried enqueue of an id that exists writes
-- nothing for it.
local base, queue = ARGV[1], ARGV[2]
local now = now_ms()
local created = 0
for i = 3, #ARGV, 7 do
  local id = ARGV[i]
  local key = KEYS[(i - 3) / 7 + 1]
  if redis.call('EXISTS', key) == 0 then
    local run_after = ARGV[i + 4]
    local priority = ARGV[i + 2]
    local deferred = run_after ~= '' and tonumber(run_after) > now
    redis.call('HSET', key, 'path', ARGV[i + 1], 'queue', queue, 'priority', priority,
      'takes_context', ARGV[i + 3], 'run_after', run_after, 'args', ARGV[i + 5],
      'kwargs', ARGV[i + 6], 'enqueued_at', now, 'attempts', 0, 'losses', 0,
      'worker_ids', '[]', 'errors', '[]', 'status', deferred and 'DEFERRED' or 'READY',
      'ready_at', deferred and '' or now)
    if deferred then
      redis.call('ZADD', K.index(base, queue, 'deferred'), tonumber(run_after), id)
      note_deferred(base, queue, tonumber(run_after))
    else
      push_ready(base, queue, id, priority, now, true)
    end
    created = created + 1
  end
end
if created > 0 then
  redis.call('SADD', K.queues(base), queue)
  redis.call('HINCRBY', K.stats(base), queue .. ':enqueued', created)
end
return now
