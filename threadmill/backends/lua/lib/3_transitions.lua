-- ---- transitions: create, defer and promote, lost workers, acquire, acknowledge, retry

-- A task of queue is deferred until `at`: keep the queue's entry in the due index (queue ->
-- a time no later than its earliest deferred task) at or below it.
local function note_deferred(base, queue, at)
  redis.call('ZADD', K.due(base), 'LT', at, queue)
end

-- Create one task record in queue (READY, or DEFERRED until run_after) unless it exists.
-- Task options are written only when set. Returns true when created, the id of the live
-- task holding its unique claim `digest` when an equal task is live (nothing created), or
-- nil when the record exists already (a retried call).
local function create_task(base, queue, key, id, path, priority, takes_context, run_after,
                           args, kwargs, timeout_ms, expires_ms, digest, now)
  if digest ~= '' then
    local holder = redis.call('GET', K.unique(base, digest))
    if holder and holder ~= id and is_live(base, holder) then
      return holder -- (a claim whose task is gone, or our own retried call, is ignored)
    end
  end
  if redis.call('EXISTS', key) == 1 then
    return nil
  end
  local deferred = run_after ~= '' and tonumber(run_after) > now
  redis.call('HSET', key, 'path', path, 'queue', queue, 'priority', priority,
    'takes_context', takes_context, 'run_after', run_after, 'args', args, 'kwargs', kwargs,
    'enqueued_at', now, 'attempts', 0, 'losses', 0, 'worker_ids', '[]', 'errors', '[]',
    'status', deferred and 'DEFERRED' or 'READY', 'ready_at', deferred and '' or now)
  -- Task options only when set: a plain task's record stays as small (and as quick to
  -- read) as it was without them.
  if timeout_ms ~= '' or expires_ms ~= '' then
    redis.call('HSET', key, 'limits', timeout_ms .. ':' .. expires_ms .. ':'
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
  return true
end

-- Promote up to `limit` deferred tasks of queue that are due, then point the queue's entry
-- in the due index at its next due task (or drop it).
local function promote_due(base, queue, now, limit)
  local deferred = K.index(base, queue, 'deferred')
  local due = redis.call('ZRANGEBYSCORE', deferred, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    redis.call('ZREM', deferred, id)
    redis.call('ZREM', K.index(base, queue, 'retrying'), id)
    local priority = redis.call('HGET', K.task(base, id), 'priority')
    push_ready(base, queue, id, priority, now)
  end
  local head = redis.call('ZRANGE', deferred, 0, 0, 'WITHSCORES')
  if head[1] then
    redis.call('ZADD', K.due(base), head[2], queue)
  else
    redis.call('ZREM', K.due(base), queue)
  end
  return #due
end

-- Promote the due tasks of the listed queues, in the order listed. One read of the due
-- index (due_key: K.due(base)) tells which queues have any: an idle pool's periodic
-- promotion costs one command.
local function promote_listed(base, due_key, queues, now, limit)
  local due = redis.call('ZRANGEBYSCORE', due_key, '-inf', now)
  if #due == 0 then
    return 0
  end
  local is_due = {}
  for _, queue in ipairs(due) do
    is_due[queue] = true
  end
  local n = 0
  for _, queue in ipairs(queues) do
    if is_due[queue] then
      n = n + promote_due(base, queue, now, limit)
    end
  end
  return n
end

-- The worker holding a task is gone: requeue it while attempts remain, else FAILED (and
-- FAILED with Cancelled when a cancellation was requested). Returns 'requeued', 'released'
-- (charge false), 'failed', 'cancelled' or 'skipped' (no longer held with that token).
-- With charge false (the worker was replaced for another task's sake), the task goes back
-- to READY as if this attempt never happened: no loss counted, its attempt given back.
local function resolve_lost(base, id, token, reason, max_attempts, now, ttl, charge)
  local key = K.task(base, id)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    return 'skipped'
  end
  local f = redis.call('HMGET', key, 'status', 'token', 'queue', 'priority', 'losses',
    'attempts', 'cancel')
  if f[1] ~= 'RUNNING' or f[2] ~= token then
    return 'skipped'
  end
  local queue = f[3]
  if f[7] and f[7] ~= '' then -- a cancellation was requested: it ends here, not requeued
    local err = error_json('threadmill.exceptions.Cancelled',
      'threadmill.exceptions.Cancelled: cancelled by ' .. f[7] .. ' while RUNNING; ' .. reason)
    finish(base, id, queue, 'FAILED', err, now, ttl, false)
    return 'cancelled'
  end
  if not charge then
    redis.call('ZREM', K.index(base, queue, 'running'), id)
    local ok, ids = pcall(cjson.decode, redis.call('HGET', key, 'worker_ids') or '[]')
    if ok and type(ids) == 'table' and #ids > 0 then
      table.remove(ids)
      redis.call('HSET', key, 'worker_ids', #ids > 0 and cjson.encode(ids) or '[]')
    end
    redis.call('HSET', key, 'attempts', math.max((tonumber(f[6]) or 1) - 1, 0))
    redis.call('HINCRBY', key, 'released', 1)
    push_ready(base, queue, id, f[4], now)
    return 'released'
  end
  local losses = (tonumber(f[5]) or 0) + 1
  local err = error_json('threadmill.exceptions.WorkerLost',
    'threadmill.exceptions.WorkerLost: ' .. reason .. ' during attempt ' .. (f[6] or '?')
    .. ' (' .. losses .. ' of at most ' .. max_attempts .. ' attempts lost)')
  redis.call('HSET', key, 'losses', losses)
  if losses >= max_attempts then
    finish(base, id, queue, 'FAILED', err, now, ttl, false)
    return 'failed'
  end
  redis.call('ZREM', K.index(base, queue, 'running'), id)
  redis.call('HSET', key, 'errors', json_append(redis.call('HGET', key, 'errors'), err))
  push_ready(base, queue, id, f[4], now)
  return 'requeued'
end

-- Resolve every task a worker holds (its leases hash: leases_key) and forget the worker.
-- Its parked threads are unparked first, so nothing is handed to it again (not even its
-- own requeued tasks).
local function resolve_worker(base, workers_key, leases_key, worker_id, reason, max_attempts,
                              now, ttl, charge)
  local parks_key = K.parks(base, worker_id)
  for _, mbox in ipairs(redis.call('SMEMBERS', parks_key)) do
    local queues_json = redis.call('HGET', K.park(base, mbox), 'queues')
    if queues_json then
      forget_park(base, mbox, queues_json)
    end
    redis.call('DEL', K.mailbox(base, mbox))
  end
  redis.call('DEL', parks_key)
  local held = redis.call('HGETALL', leases_key)
  local out = {}
  for i = 1, #held, 2 do
    local outcome = resolve_lost(base, held[i + 1], held[i], reason, max_attempts,
      now, ttl, charge)
    table.insert(out, held[i + 1])
    table.insert(out, outcome)
  end
  redis.call('DEL', leases_key)
  redis.call('DEL', K.control(base, worker_id))
  redis.call('ZREM', workers_key, worker_id)
  return out
end

-- Lease the next task of queues to worker_id under token. Idempotent: a retry with the same
-- token returns the task the first call leased. Due deferred tasks are promoted here when
-- nothing is ready (otherwise the broker promotes them every broker_interval). `fresh`: the
-- caller knows that no earlier call used token, so there is no earlier lease to look up.
-- Paused queues are left out (one set lookup). Returns the lease reply or '' when there is
-- nothing to run.
local function acquire_held(base, leases_key, token, now)
  local held = redis.call('HGET', leases_key, token)
  if held then
    local state = redis.call('HMGET', K.task(base, held), 'status', 'token')
    if state[1] == 'RUNNING' and state[2] == token then
      local f = redis.call('HMGET', K.task(base, held), unpack(RUN_FIELDS))
      return lease_reply(held, token, now, f)
    end
  end
  return nil
end

local function acquire(base, leases_key, queues, worker_id, token, lease_ms, batch, ttl, now,
                       fresh)
  if not fresh then
    local again = acquire_held(base, leases_key, token, now)
    if again then
      return again
    end
  end
  queues = unpaused(base, queues)
  if #queues == 0 then
    return ''
  end
  local out = lease_next(base, leases_key, queues, worker_id, token, lease_ms, now, ttl, batch)
  if out == nil and promote_listed(base, K.due(base), queues, now, batch) > 0 then
    out = lease_next(base, leases_key, queues, worker_id, token, lease_ms, now, ttl, batch)
  end
  return out or ''
end

-- A failed attempt is tried again at `at`: the task keeps its id and lease token (so a
-- retried acknowledgement answers ALREADY_DONE), its error is appended, and it waits in the
-- deferred and retrying indexes (or goes straight back to READY when at is now).
local function retry_later(base, key, id, queue, value, errors, at, now)
  redis.call('ZREM', K.index(base, queue, 'running'), id)
  redis.call('HSET', key, 'errors', json_append(errors, value), 'deadline', '', 'run_after', at)
  local timeout_ms, expires_ms = parse_limits(redis.call('HGET', key, 'limits'))
  if expires_ms then -- its expiry counts from the retry's due time
    redis.call('HSET', key, 'limits', (timeout_ms or '') .. ':' .. expires_ms .. ':' .. at)
  end
  redis.call('HINCRBY', K.stats(base), queue .. ':retried', 1)
  if at <= now then
    local priority = redis.call('HGET', key, 'priority')
    push_ready(base, queue, id, priority, now)
    return
  end
  redis.call('HSET', key, 'status', 'DEFERRED', 'ready_at', '')
  redis.call('ZADD', K.index(base, queue, 'deferred'), at, id)
  redis.call('ZADD', K.index(base, queue, 'retrying'), at, id)
  note_deferred(base, queue, at)
end

-- Store the outcome of a leased task. Fenced by the lease token:
-- 'OK' stored now; 'ALREADY_DONE' a retry of an acknowledgement that was stored;
-- (with 'OK' it also returns the record's fields read, see the HMGET, and the kind of
-- run for the metrics: 'ok', 'fail' or 'retry');
-- 'LEASE_LOST' the lease expired or the task was handed to another worker; 'GONE' no record.
-- status RETRY (value: the attempt's error) puts the task back for another attempt
-- retry_ms from now, unless a cancellation was requested meanwhile: then it is FAILED.
-- task_key is K.task(base, id), which the caller has in its KEYS.
local function acknowledge(base, leases_key, task_key, id, token, status, value, ttl, now,
                           retry_ms)
  redis.call('HDEL', leases_key, token)
  local f = redis.pcall('HMGET', task_key, 'status', 'token', 'queue', 'errors', 'unique',
    'path', 'last_attempted_at')
  if f['err'] or not f[1] then
    return 'GONE'
  end
  if f[2] ~= token then
    return 'LEASE_LOST'
  end
  if f[1] == 'SUCCESSFUL' or f[1] == 'FAILED' or f[1] == 'DEFERRED' then
    return 'ALREADY_DONE'
  end
  if f[1] ~= 'RUNNING' then
    return 'LEASE_LOST'
  end
  if status == 'RETRY' then
    local cancel = redis.call('HGET', task_key, 'cancel')
    if not cancel or cancel == '' then
      retry_later(base, task_key, id, f[3], value, f[4], now + (tonumber(retry_ms) or 0), now)
      return 'OK', f, 'retry'
    end
    status = 'FAILED'
  end
  finish(base, id, f[3], status, value, now, ttl, true, f[4], f[5] or '')
  return 'OK', f, status == 'SUCCESSFUL' and 'ok' or 'fail'
end

