-- Shared helpers, prepended to every script by lua.py (Redis cannot include files).
--
-- A task record is a hash at K.task(base, id). Its status is one of READY, DEFERRED,
-- RUNNING, SUCCESSFUL, FAILED, and the id sits in exactly one matching index of its queue
-- (K.index(base, queue, status)). Every function here keeps record and index in step.
-- A DEFERRED task waiting for its next attempt after a failure is also in the queue's
-- 'retrying' index (a subset of 'deferred'). A task enqueued with `unique` holds the claim
-- K.unique(base, digest) = its id until it finishes (record field 'unique' = digest). A
-- task with a timeout or an expiry has the field 'limits' = '<timeout_ms>:<expires_ms>:
-- <due_at_ms>' (each part may be empty); a plain task has neither field, so its record is
-- as small, and as quick to read, as without task options.
-- Time is always Redis time (TIME), in milliseconds.

local BAND = 17592186044416 -- 2^44: width of one priority band in a ready score

-- Key names. Every key of a backend alias is `base .. name`, where base is
-- `<prefix>:{<alias>}:` (ARGV[1] of most scripts): the rule that threadmill/backends/keys.py
-- documents. Each function here has a method of the same name in keys.Keys, and
-- tests/test_script_contract.py checks that both build the same names. A script uses a key
-- from its KEYS when the caller knows it, and builds the others (keys of ids it only learns
-- inside Redis, such as the task at the head of a queue) with these functions, never by
-- joining strings itself.
local K = {}
function K.task(base, id) return base .. 'task:' .. id end
function K.index(base, queue, status) return base .. 'q:' .. queue .. ':' .. status end
function K.idle(base, queue) return base .. 'q:' .. queue .. ':idle' end
function K.mailbox(base, mailbox) return base .. 'mbox:' .. mailbox end
function K.park(base, mailbox) return base .. 'park:' .. mailbox end
function K.parks(base, worker_id) return base .. 'parks:' .. worker_id end
function K.leases(base, worker_id) return base .. 'leases:' .. worker_id end
function K.pool(base, pool_id) return base .. 'pool:' .. pool_id end
function K.seq(base) return base .. 'seq' end
function K.due(base) return base .. 'due' end
function K.workers(base) return base .. 'workers' end
function K.pools(base) return base .. 'pools' end
function K.queues(base) return base .. 'queues' end
function K.stats(base) return base .. 'stats' end
function K.fence(base) return base .. 'fence' end
function K.meta(base) return base .. 'meta' end
function K.unique(base, digest) return base .. 'unique:' .. digest end
function K.control(base, worker_id) return base .. 'control:' .. worker_id end
function K.schedule(base, name) return base .. 'sched:' .. name end
function K.schedule_runs(base, name) return base .. 'sched:' .. name .. ':runs' end
function K.paused(base) return base .. 'paused' end
function K.pool_requests(base, pool_id) return base .. 'poolreq:' .. pool_id end
function K.metrics_minute(base, minute) return base .. 'm:' .. minute end
function K.metrics_task(base, minute, queue, path) return K.metrics_minute(base, minute) .. ':'
  .. queue .. ':' .. path end
function K.metrics_total(base, queue, path) return base .. 'm:total:' .. queue .. ':' .. path end
function K.metrics_failures(base, queue, path) return base .. 'm:fail:' .. queue .. ':' .. path end
function K.metrics_series(base) return base .. 'm:series' end
function K.job(base, job_id) return base .. 'job:' .. job_id end
function K.jobs(base) return base .. 'jobs' end
function K.active_jobs(base) return base .. 'jobs:active' end

-- A lease of a task with a timeout expires this long after the timeout (the worker stops
-- the task itself within about a second; the broker only steps in when the worker cannot).
local TIMEOUT_GRACE_MS = 5000
-- Control messages of a worker that never read them go away after a day.
local CONTROL_TTL_MS = 86400000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Append one already-encoded JSON value to a JSON array stored as a string.
local function json_append(array, item)
  if array == false or array == nil or array == '' or array == '[]' then
    return '[' .. item .. ']'
  end
  return string.sub(array, 1, -2) .. ',' .. item .. ']'
end

local function error_json(class_path, message)
  return cjson.encode({exception_class_path = class_path, traceback = message})
end

-- Drop finished ids older than the result ttl from a finished index (their records have
-- already expired); bounded so that no call does more than `limit` removals.
local function trim_finished(index, now, ttl, limit)
  local old = redis.call('ZRANGEBYSCORE', index, '-inf', now - ttl, 'LIMIT', 0, limit)
  if #old > 0 then
    redis.call('ZREM', index, unpack(old))
  end
  return #old
end

-- Move a task to a finished state. `value` is the encoded TaskError JSON appended to the
-- error list (FAILED) or the encoded return value (SUCCESSFUL). `errors` is the current
-- error list if the caller already read it (saves a read).
-- The unique claim `digest` is released if task id still holds it (a newer task may).
local function release_claim(base, digest, id)
  if digest and digest ~= '' then
    local claim = K.unique(base, digest)
    if redis.call('GET', claim) == id then
      redis.call('DEL', claim)
    end
  end
end

-- Whether task id is READY, DEFERRED or RUNNING (a unique claim it holds is live).
local function is_live(base, id)
  local status = redis.pcall('HGET', K.task(base, id), 'status')
  return status == 'READY' or status == 'DEFERRED' or status == 'RUNNING'
end

local function finish(base, id, queue, status, value, now, ttl, keep_token, errors, digest)
  local key = K.task(base, id)
  redis.call('ZREM', K.index(base, queue, 'running'), id)
  if digest == nil then
    digest = redis.call('HGET', key, 'unique')
  end
  release_claim(base, digest, id)
  local fields = {'status', status, 'finished_at', now, 'deadline', ''}
  if status == 'SUCCESSFUL' then
    table.insert(fields, 'result')
    table.insert(fields, value)
  else
    if errors == nil then
      errors = redis.call('HGET', key, 'errors')
    end
    table.insert(fields, 'errors')
    table.insert(fields, json_append(errors, value))
  end
  if not keep_token then
    table.insert(fields, 'token')
    table.insert(fields, '')
  end
  redis.call('HSET', key, unpack(fields))
  local lower = string.lower(status)
  redis.call('ZADD', K.index(base, queue, lower), now, id)
  redis.call('PEXPIRE', key, ttl)
  redis.call('HINCRBY', K.stats(base), queue .. ':' .. lower, 1)
end

-- A record that cannot be run (missing, wrong type, no task path): replace it by a FAILED
-- record that keeps whatever raw data there was, so nothing disappears silently.
local function quarantine(base, id, queue, reason, now, ttl)
  local key = K.task(base, id)
  local kind = redis.call('TYPE', key)['ok']
  local raw = ''
  if kind == 'string' then
    raw = redis.call('GET', key)
  elseif kind == 'hash' then
    raw = cjson.encode(redis.call('HGETALL', key))
  elseif kind ~= 'none' then
    raw = '<redis ' .. kind .. '>'
  end
  if kind ~= 'hash' then
    redis.call('DEL', key)
  end
  reason = reason or ('task record is a ' .. kind)
  local err = error_json('threadmill.exceptions.CorruptTaskData',
    'threadmill.exceptions.CorruptTaskData: ' .. reason .. ' (task ' .. id .. ', queue '
    .. queue .. ')')
  redis.call('HSET', key, 'queue', queue, 'raw', raw)
  finish(base, id, queue, 'FAILED', err, now, ttl, false)
end

local RUN_FIELDS = {'path', 'queue', 'priority', 'takes_context', 'args', 'kwargs',
  'run_after', 'enqueued_at', 'started_at', 'worker_ids', 'errors', 'attempts', 'limits'}

-- The parts of a 'limits' field: timeout_ms, expires_ms, due_at_ms (numbers or nil).
local function parse_limits(limits)
  if not limits or limits == '' then
    return nil, nil, nil
  end
  local t, e, d = string.match(limits, '^(%d*):(%d*):(%d*)$')
  return tonumber(t), tonumber(e), tonumber(d)
end

-- The reply describing a lease (see lease_from_reply in redis_records.py): one JSON array,
-- which the client decodes in one pass instead of parsing sixteen replies. Its last item
-- is the attempt's timeout in ms ('' = none).
local function lease_reply(id, token, now, f)
  local out = {id, token, now}
  for i = 1, 12 do
    out[i + 3] = f[i] or ''
  end
  out[16] = parse_limits(f[13]) or ''
  return cjson.encode(out)
end

-- Whether a task with these limits could not start in time (expires_ms after due_at).
local function expired(limits, now)
  local _, expires_ms, due = parse_limits(limits)
  return expires_ms ~= nil and now > (due or now) + expires_ms
end

-- The listed queues that are not paused (K.paused): one SISMEMBER for the usual single
-- queue, one SMISMEMBER for several. A paused queue keeps its tasks; nobody leases them.
local function unpaused(base, queues)
  if #queues == 1 then
    if redis.call('SISMEMBER', K.paused(base), queues[1]) == 1 then
      return {}
    end
    return queues
  end
  if #queues == 0 then
    return queues
  end
  local flags = redis.call('SMISMEMBER', K.paused(base), unpack(queues))
  local out = {}
  for i, queue in ipairs(queues) do
    if flags[i] == 0 then
      table.insert(out, queue)
    end
  end
  return out
end

-- Take the best ready task of queues (highest priority, then oldest; ties between queues go
-- to the first listed) and lease it. Corrupt heads are quarantined and skipped, at most
-- `limit` of them. Returns the lease reply, or nil when every ready index is empty.
local function lease_next(base, leases_key, queues, worker_id, token, lease_ms, now, ttl,
                          limit)
  for _ = 1, limit do
    local best_queue, best_id, best_score = nil, nil, nil
    if #queues == 1 then -- the common case: take the head in one command
      best_queue = queues[1]
      best_id = redis.call('ZPOPMIN', K.index(base, best_queue, 'ready'))[1]
    else
      for _, queue in ipairs(queues) do
        local head = redis.call('ZRANGE', K.index(base, queue, 'ready'), 0, 0, 'WITHSCORES')
        if head[1] and (best_score == nil or tonumber(head[2]) < best_score) then
          best_queue, best_id, best_score = queue, head[1], tonumber(head[2])
        end
      end
      if best_id ~= nil then
        redis.call('ZREM', K.index(base, best_queue, 'ready'), best_id)
      end
    end
    if best_id == nil then
      return nil
    end
    local key = K.task(base, best_id)
    local f = redis.pcall('HMGET', key, unpack(RUN_FIELDS))
    if f['err'] then
      quarantine(base, best_id, best_queue, nil, now, ttl)
    elseif not f[1] or f[1] == '' then
      local reason = 'task record has no task path'
      if redis.call('EXISTS', key) == 0 then
        reason = 'task record is missing'
      end
      quarantine(base, best_id, best_queue, reason, now, ttl)
    elseif f[13] and expired(f[13], now) then
      local _, expires_ms, due = parse_limits(f[13])
      local err = error_json('threadmill.exceptions.Expired',
        'threadmill.exceptions.Expired: not started within ' .. (expires_ms / 1000)
        .. ' s of becoming due (' .. ((now - (due or now)) / 1000) .. ' s passed)')
      finish(base, best_id, best_queue, 'FAILED', err, now, ttl, false)
    else
      local deadline = now + lease_ms
      local limit_ms = parse_limits(f[13])
      if limit_ms and limit_ms > 0 then
        deadline = now + math.min(lease_ms, limit_ms + TIMEOUT_GRACE_MS)
      end
      f[2] = best_queue
      if not f[9] or f[9] == '' then
        f[9] = now
      end
      f[10] = json_append(f[10], cjson.encode(worker_id))
      f[12] = (tonumber(f[12]) or 0) + 1
      redis.call('HSET', key, 'status', 'RUNNING', 'last_attempted_at', now, 'token', token,
        'worker', worker_id, 'deadline', deadline, 'worker_ids', f[10], 'attempts', f[12],
        'started_at', f[9])
      redis.call('ZADD', K.index(base, best_queue, 'running'), deadline, best_id)
      redis.call('HSET', leases_key, token, best_id)
      return lease_reply(best_id, token, now, f), best_queue
    end
  end
  return nil
end

-- A parked thread stops being parked: its park record goes, and so do its entries in the
-- idle lists of its queues (queues_json, from the park record).
local function forget_park(base, mbox, queues_json)
  redis.call('DEL', K.park(base, mbox))
  for _, queue in ipairs(cjson.decode(queues_json)) do
    redis.call('LREM', K.idle(base, queue), 0, mbox)
  end
end

-- Hand the best ready task of queue to the thread that has waited longest for one (a
-- parked thread, see park.lua): lease it to that thread and put the lease in its mailbox,
-- which the thread is blocked on. Entries of threads no longer parked are skipped (a
-- safety net: unparking removes them). Nothing is handed from a paused queue (nor, to a
-- thread parked on several queues, from its other paused ones). Returns whether a task
-- was handed.
local function dispatch(base, queue, now)
  if redis.call('SISMEMBER', K.paused(base), queue) == 1 then
    return false
  end
  local idle = K.idle(base, queue)
  for _ = 1, 100 do
    local mbox = redis.call('LPOP', idle)
    if not mbox then
      return false
    end
    local park = K.park(base, mbox)
    local p = redis.call('HMGET', park, 'token', 'worker', 'lease_ms', 'ttl', 'queues')
    if p[1] then
      local listened = cjson.decode(p[5])
      if #listened > 1 then
        listened = unpaused(base, listened)
      end
      local out = lease_next(base, K.leases(base, p[2]), listened, p[2], p[1],
        tonumber(p[3]), now, tonumber(p[4]), 10)
      if out == nil then
        redis.call('LPUSH', idle, mbox) -- nothing to give after all: it stays parked
        return false
      end
      forget_park(base, mbox, p[5])
      redis.call('RPUSH', K.mailbox(base, mbox), out)
      return true
    end
  end
  return false
end

-- Put id in the ready index of queue: higher priority first, FIFO within a priority
-- (the global seq counter orders it), and hand it to a parked thread if one waits.
-- `fresh`: the caller already wrote status READY and ready_at (a new record).
local function push_ready(base, queue, id, priority, now, fresh)
  local seq = redis.call('INCR', K.seq(base))
  local score = (100 - (tonumber(priority) or 0)) * BAND + seq
  redis.call('ZADD', K.index(base, queue, 'ready'), score, id)
  if not fresh then
    local key = K.task(base, id)
    redis.call('HSET', key, 'status', 'READY', 'ready_at', now)
    redis.call('HDEL', key, 'token', 'worker', 'deadline')
  end
  dispatch(base, queue, now)
end

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

-- ---- Run metrics (docs/metrics.md) ---------------------------------------------------------
-- Written by acknowledge.lua, in the call that stores the outcome (no extra round trip):
--   K.metrics_minute(minute)             hash '<queue>:<kind>' -> count, one per minute;
--                                        also '<queue>:depth' (READY tasks) and
--                                        '<queue>:age' (ms, the oldest), sampled once a
--                                        minute by sample_queues.lua
--   K.metrics_task(minute, queue, path)  hash kind -> count, 'b<i>' -> runs in run-time
--                                        bucket i, 'max' -> longest run (ms)
--   (both expire window_ms after their minute ends)
--   K.metrics_total(queue, path)         hash, the same counts since the series was first
--                                        seen (no 'max'; 'sum' of run ms): Prometheus
--   K.metrics_series                     zset '<queue>\t<path>' -> first run of its newest
--                                        minute (ms)
--   K.metrics_failures(queue, path)      list of the newest failed or retried attempts,
--                                        '<ms>\t<task id>\t<kind>\t<exception class>'
-- kind is 'ok' (SUCCESSFUL), 'fail' (FAILED) or 'retry' (failed, tried again later). A minute
-- is floor(ms / 60000) of Redis time.

-- Upper bounds (ms, inclusive) of the run-time buckets b1..b15; b16 holds longer runs.
-- threadmill.backends.metric_records.RUN_BUCKETS_MS is the same list (tested).
local RUN_BUCKETS_MS = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
  300000, 900000}
local METRIC_FAILURES_KEPT = 20

local function run_bucket(ms)
  for i, bound in ipairs(RUN_BUCKETS_MS) do
    if ms <= bound then
      return i
    end
  end
  return #RUN_BUCKETS_MS + 1
end

-- The ready time (ms) of the oldest task of a ready index, or nil when it is empty: the one
-- with the lowest sequence number, found by walking the head of each priority band in use
-- (at most 201 bands), so O(bands x log n), never O(n).
local function oldest_ready_at(base, ready)
  local oldest_seq, oldest_id = nil, nil
  local head = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
  local guard = 0
  while head[1] and guard < 201 do
    guard = guard + 1
    local score = tonumber(head[2])
    local band = math.floor(score / BAND)
    local seq = score - band * BAND
    if oldest_seq == nil or seq < oldest_seq then
      oldest_seq, oldest_id = seq, head[1]
    end
    head = redis.call('ZRANGE', ready, (band + 1) * BAND, '+inf', 'BYSCORE', 'LIMIT', 0, 1,
      'WITHSCORES')
  end
  if oldest_id then
    return tonumber(redis.call('HGET', K.task(base, oldest_id), 'ready_at'))
  end
  return nil
end

-- Count one acknowledged attempt (kind, run_ms from its lease to now) of task `path` in
-- queue; `value` is the attempt's TaskError JSON when it failed. window_ms 0: metrics off.
local function record_run(base, queue, path, kind, run_ms, now, window_ms, id, value)
  if window_ms <= 0 or not path or path == '' then
    return
  end
  run_ms = math.max(run_ms, 0)
  local minute = math.floor(now / 60000)
  local expire_at = (minute + 1) * 60000 + window_ms
  local bucket = 'b' .. run_bucket(run_ms)
  local totals = K.metrics_minute(base, minute)
  if redis.call('HINCRBY', totals, queue .. ':' .. kind, 1) == 1 then
    redis.call('PEXPIREAT', totals, expire_at)
  end
  local m = K.metrics_task(base, minute, queue, path)
  if redis.call('HINCRBY', m, kind, 1) == 1 then -- the first such run of the series this minute
    redis.call('PEXPIREAT', m, expire_at)
    redis.call('ZADD', K.metrics_series(base), now, queue .. '\t' .. path)
  end
  redis.call('HINCRBY', m, bucket, 1)
  if run_ms > (tonumber(redis.call('HGET', m, 'max')) or -1) then
    redis.call('HSET', m, 'max', run_ms)
  end
  local life = K.metrics_total(base, queue, path)
  redis.call('HINCRBY', life, kind, 1)
  redis.call('HINCRBY', life, bucket, 1)
  redis.call('HINCRBY', life, 'sum', run_ms)
  if kind ~= 'ok' then
    local ok, err = pcall(cjson.decode, value)
    local class = ok and type(err) == 'table' and err.exception_class_path or '?'
    local list = K.metrics_failures(base, queue, path)
    redis.call('LPUSH', list, now .. '\t' .. id .. '\t' .. kind .. '\t' .. tostring(class))
    redis.call('LTRIM', list, 0, METRIC_FAILURES_KEPT - 1)
    redis.call('PEXPIRE', list, window_ms)
  end
end

-- ---- repairs of one task (requeue, purge, cancel): used by their scripts and by bulk jobs

-- Put a finished task back to READY (see requeue.lua). Returns requeued, or missing /
-- corrupt / READY / DEFERRED / RUNNING (the state that refused).
local function requeue_one(base, id, key, now)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    return 'missing'
  end
  local f = redis.call('HMGET', key, 'status', 'queue', 'priority', 'path')
  if (f[1] == 'FAILED' or f[1] == 'SUCCESSFUL') and f[4] and f[4] ~= '' then
    redis.call('ZREM', K.index(base, f[2], string.lower(f[1])), id)
    redis.call('PERSIST', key)
    redis.call('HSET', key, 'losses', 0, 'finished_at', '')
    redis.call('HDEL', key, 'cancel') -- a new run: an old cancellation request is history
    push_ready(base, f[2], id, f[3], now)
    return 'requeued'
  elseif f[1] == 'FAILED' then
    return 'corrupt'
  end
  return f[1] or 'missing'
end

-- Remove a task and everything it left (see purge.lua); `hint` is a queue whose indexes
-- may still hold the id of a record that is gone ('' = none). Returns purged, RUNNING
-- (refused) or missing.
local function purge_one(base, id, key, hint)
  local outcome = 'purged'
  if redis.call('TYPE', key)['ok'] == 'hash' then
    local f = redis.call('HMGET', key, 'status', 'queue', 'unique')
    if f[1] == 'RUNNING' then
      return 'RUNNING'
    end
    if f[2] and f[1] then
      redis.call('ZREM', K.index(base, f[2], string.lower(f[1])), id)
      redis.call('ZREM', K.index(base, f[2], 'retrying'), id)
    end
    release_claim(base, f[3], id)
    redis.call('DEL', key)
  elseif redis.call('EXISTS', key) == 1 then
    redis.call('DEL', key)
  else
    outcome = 'missing'
  end
  if hint ~= '' then
    for _, status in ipairs({'ready', 'deferred', 'successful', 'failed'}) do
      if redis.call('ZREM', K.index(base, hint, status), id) == 1 and outcome == 'missing' then
        outcome = 'purged'
      end
    end
  end
  return outcome
end

-- Cancel a task (see cancel.lua). Returns cancelled, requested (RUNNING), the finished
-- state that refused, or missing.
local function cancel_one(base, id, key, who, terminate, now, ttl)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    return 'missing'
  end
  local f = redis.call('HMGET', key, 'status', 'queue', 'worker', 'token', 'path')
  if f[1] == 'READY' or f[1] == 'DEFERRED' then
    redis.call('ZREM', K.index(base, f[2], 'ready'), id)
    redis.call('ZREM', K.index(base, f[2], 'deferred'), id)
    redis.call('ZREM', K.index(base, f[2], 'retrying'), id)
    local err = error_json('threadmill.exceptions.Cancelled',
      'threadmill.exceptions.Cancelled: cancelled by ' .. who .. ' while ' .. f[1])
    redis.call('HSET', key, 'cancel', who)
    finish(base, id, f[2], 'FAILED', err, now, ttl, false)
    return 'cancelled'
  elseif f[1] == 'RUNNING' then
    redis.call('HSET', key, 'cancel', who)
    if f[3] and f[3] ~= '' then
      local control = K.control(base, f[3])
      redis.call('RPUSH', control, cjson.encode({id, f[4] or '', terminate == '1', who}))
      redis.call('PEXPIRE', control, CONTROL_TTL_MS)
    end
    return 'requested'
  end
  return f[1] or 'missing'
end

-- ---- task filters (search.lua, bulk_chunk.lua) ---------------------------------------
-- A filter is a table {path, error, worker, args, since, until, time_field}: '' (or nil
-- for the times) means any. path, worker and args are plain substrings (of the task path,
-- of the JSON list of its workers' ids, of its args and kwargs JSON); error is the class
-- of its last error, by full path or by name; since/until bound (inclusive, ms) its
-- time_field (finished_at for finished tasks, enqueued_at for the others).

-- The exception class path of the last error in an errors JSON list, or nil.
local function last_error_class(errors)
  local last = nil
  if errors then
    for cls in string.gmatch(errors, '"exception_class_path"%s*:%s*"([^"]*)"') do
      last = cls
    end
  end
  return last
end

-- The record fields a filter needs, in the order task_matches reads them.
local function filter_fields(flt)
  local fields = {'path'}
  if flt.error ~= '' then table.insert(fields, 'errors') end
  if flt.worker ~= '' then table.insert(fields, 'worker_ids') end
  if flt.args ~= '' then
    table.insert(fields, 'args')
    table.insert(fields, 'kwargs')
  end
  if flt.since or flt['until'] then table.insert(fields, flt.time_field) end
  return fields
end

-- Whether the record at key passes the filter (`fields`: filter_fields(flt)).
local function task_matches(key, flt, fields)
  local v = redis.pcall('HMGET', key, unpack(fields))
  if v['err'] then
    return false
  end
  local n = 1
  if flt.path ~= '' and not (v[1] and string.find(v[1], flt.path, 1, true)) then
    return false
  end
  if flt.error ~= '' then
    n = n + 1
    -- A plain search first: most records do not mention the class at all.
    if not (v[n] and string.find(v[n], flt.error, 1, true)) then
      return false
    end
    local cls = last_error_class(v[n])
    if not cls then
      return false
    end
    local short = string.match(cls, '([^%.]+)$')
    if cls ~= flt.error and short ~= flt.error then
      return false
    end
  end
  if flt.worker ~= '' then
    n = n + 1
    if not (v[n] and string.find(v[n], flt.worker, 1, true)) then
      return false
    end
  end
  if flt.args ~= '' then
    n = n + 2
    local a, kw = v[n - 1] or '', v[n] or ''
    if not (string.find(a, flt.args, 1, true) or string.find(kw, flt.args, 1, true)) then
      return false
    end
  end
  if flt.since or flt['until'] then
    n = n + 1
    local t = tonumber(v[n])
    if not t or (flt.since and t < flt.since) or (flt['until'] and t > flt['until']) then
      return false
    end
  end
  return true
end

-- A filter from seven strings (path, error, worker, args, since_ms, until_ms, time_field).
local function make_filter(path, err, worker, args, since, until_, time_field)
  return {path = path or '', error = err or '', worker = worker or '', args = args or '',
    since = tonumber(since), ['until'] = tonumber(until_), time_field = time_field}
end
