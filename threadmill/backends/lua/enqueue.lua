-- enqueue: create task records and put them in their queue (READY, or DEFERRED until due).
-- flags: (none: refused up front when Redis is at maxmemory, so nothing is half-written)
-- KEYS[1..] task: one task record per task, in the order of the tasks in ARGV
-- ARGV[1] base: the alias's key base (the queue's indexes, K.seq, K.queues, K.stats,
--   K.unique)
-- ARGV[2] queue
-- ARGV[3..] tasks: 10 values per task: id, path, priority, takes_context (0/1), run_after
--   (ms, or ''), args JSON, kwargs JSON, timeout_ms (''), expires_ms (''), unique digest
--   ('' = not unique)
-- Returns {now_ms, position1, holder1, ...}: now_ms is the tasks' enqueued_at; each
--   position (1-based) is a task not created because the live task holder holds its unique
--   claim. A retried enqueue of an id that exists writes nothing for it.
local base, queue = ARGV[1], ARGV[2]
local now = now_ms()
local created = 0
local out = {now}
for i = 3, #ARGV, 10 do
  local id = ARGV[i]
  local position = (i - 3) / 10 + 1
  local key = KEYS[position]
  local holder = create_task(base, queue, key, id, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9], now)
  if holder == true then
    created = created + 1
  elseif holder then
    table.insert(out, position)
    table.insert(out, holder)
  end
end
if created > 0 then
  redis.call('SADD', K.queues(base), queue)
  redis.call('HINCRBY', K.stats(base), queue .. ':enqueued', created)
end
return out
