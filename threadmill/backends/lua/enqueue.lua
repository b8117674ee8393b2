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
  local digest = ARGV[i + 9]
  local holder = nil
  if digest ~= '' then
    holder = redis.call('GET', K.unique(base, digest))
    if holder == id or (holder and not is_live(base, holder)) then
      holder = nil -- our own retried call, or a claim that outlived its task
    end
  end
  if holder then
    table.insert(out, position)
    table.insert(out, holder)
  elseif redis.call('EXISTS', key) == 0 then
    local run_after = ARGV[i + 4]
    local priority = ARGV[i + 2]
    local deferred = run_after ~= '' and tonumber(run_after) > now
    redis.call('HSET', key, 'path', ARGV[i + 1], 'queue', queue, 'priority', priority,
      'takes_context', ARGV[i + 3], 'run_after', run_after, 'args', ARGV[i + 5],
      'kwargs', ARGV[i + 6], 'enqueued_at', now, 'attempts', 0, 'losses', 0,
      'worker_ids', '[]', 'errors', '[]', 'status', deferred and 'DEFERRED' or 'READY',
      'ready_at', deferred and '' or now)
    -- Task options only when set: a plain task's record stays as small (and as fast to
    -- read) as it was without them.
    if ARGV[i + 7] ~= '' or ARGV[i + 8] ~= '' then
      redis.call('HSET', key, 'limits', ARGV[i + 7] .. ':' .. ARGV[i + 8] .. ':'
        .. (deferred and run_after or now))
    end
    if digest ~= '' then
      redis.call('HSET', key, 'unique', digest)
      redis.call('SET', K.unique(base, digest), id)
    end
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
return out
