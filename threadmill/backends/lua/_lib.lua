-- Shared helpers, prepended to every script by scripts.py (Redis cannot include files).
--
-- A task record is a hash at <base>task:<id>. Its status is one of READY, DEFERRED,
-- RUNNING, SUCCESSFUL, FAILED, and the id sits in exactly one matching index of its queue:
-- <base>q:<queue>:{ready|deferred|running|successful|failed}. Every function here keeps
-- record and index in step. Time is always Redis time (TIME), in milliseconds.

local BAND = 17592186044416 -- 2^44: width of one priority band in a ready score

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function qkey(base, queue, status)
  return base .. 'q:' .. queue .. ':' .. status
end

local function task_key(base, id)
  return base .. 'task:' .. id
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

-- Put id in the ready index of queue: higher priority first, FIFO within a priority
-- (the global seq counter orders it), and leave one wake-up token for idle threads.
local function push_ready(base, seq_key, queue, id, priority, now)
  local seq = redis.call('INCR', seq_key)
  local score = (100 - (tonumber(priority) or 0)) * BAND + seq
  redis.call('ZADD', qkey(base, queue, 'ready'), score, id)
  redis.call('HSET', task_key(base, id), 'status', 'READY', 'ready_at', now,
    'token', '', 'worker', '', 'deadline', '')
  local wake = qkey(base, queue, 'wake')
  if redis.call('LLEN', wake) == 0 then
    redis.call('RPUSH', wake, '1')
  end
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

-- Move a task to a finished state. `error` (encoded TaskError JSON) is appended for FAILED;
-- `result` (encoded JSON) is stored for SUCCESSFUL.
local function finish(base, stats_key, id, queue, status, value, now, ttl, keep_token)
  local key = task_key(base, id)
  redis.call('ZREM', qkey(base, queue, 'running'), id)
  if status == 'SUCCESSFUL' then
    redis.call('HSET', key, 'status', status, 'finished_at', now, 'result', value)
  else
    local errors = redis.call('HGET', key, 'errors')
    redis.call('HSET', key, 'status', status, 'finished_at', now,
      'errors', json_append(errors, value))
  end
  if not keep_token then
    redis.call('HSET', key, 'token', '')
  end
  redis.call('HSET', key, 'deadline', '')
  local index = qkey(base, queue, string.lower(status))
  redis.call('ZADD', index, now, id)
  redis.call('PEXPIRE', key, ttl)
  redis.call('HINCRBY', stats_key, queue .. ':' .. string.lower(status), 1)
  trim_finished(index, now, ttl, 10)
end

-- A record that cannot be run (missing, wrong type, no task path): replace it by a FAILED
-- record that keeps whatever raw data there was, so nothing disappears silently.
local function quarantine(base, stats_key, id, queue, reason, now, ttl)
  local key = task_key(base, id)
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
  local err = error_json('threadmill.exceptions.CorruptTaskData',
    'threadmill.exceptions.CorruptTaskData: ' .. reason .. ' (task ' .. id .. ', queue '
    .. queue .. ')')
  redis.call('HSET', key, 'queue', queue, 'raw', raw)
  finish(base, stats_key, id, queue, 'FAILED', err, now, ttl, false)
end

-- Promote up to `limit` deferred tasks of queue that are due.
local function promote_due(base, seq_key, queue, now, limit)
  local due = redis.call('ZRANGEBYSCORE', qkey(base, queue, 'deferred'), '-inf', now,
    'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    redis.call('ZREM', qkey(base, queue, 'deferred'), id)
    local priority = redis.call('HGET', task_key(base, id), 'priority')
    push_ready(base, seq_key, queue, id, priority, now)
  end
  return #due
end

-- The worker holding a task is gone: requeue it while attempts remain, else FAILED.
-- Returns 'requeued', 'failed' or 'skipped' (the task was no longer held with that token).
local function resolve_lost(base, seq_key, stats_key, id, token, reason, max_attempts, now,
                            ttl)
  local key = task_key(base, id)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    return 'skipped'
  end
  local f = redis.call('HMGET', key, 'status', 'token', 'queue', 'priority', 'losses',
    'attempts')
  if f[1] ~= 'RUNNING' or f[2] ~= token then
    return 'skipped'
  end
  local queue = f[3]
  local losses = (tonumber(f[5]) or 0) + 1
  local err = error_json('threadmill.exceptions.WorkerLost',
    'threadmill.exceptions.WorkerLost: ' .. reason .. ' during attempt ' .. (f[6] or '?')
    .. ' (' .. losses .. ' of at most ' .. max_attempts .. ' attempts lost)')
  redis.call('HSET', key, 'losses', losses)
  if losses >= max_attempts then
    finish(base, stats_key, id, queue, 'FAILED', err, now, ttl, false)
    return 'failed'
  end
  redis.call('ZREM', qkey(base, queue, 'running'), id)
  redis.call('HSET', key, 'errors', json_append(redis.call('HGET', key, 'errors'), err))
  push_ready(base, seq_key, queue, id, f[4], now)
  return 'requeued'
end

-- Resolve every task a worker holds and forget the worker.
local function resolve_worker(base, seq_key, stats_key, workers_key, worker_id, reason,
                              max_attempts, now, ttl)
  local leases_key = base .. 'leases:' .. worker_id
  local held = redis.call('HGETALL', leases_key)
  local out = {}
  for i = 1, #held, 2 do
    local outcome = resolve_lost(base, seq_key, stats_key, held[i + 1], held[i], reason,
      max_attempts, now, ttl)
    table.insert(out, held[i + 1])
    table.insert(out, outcome)
  end
  redis.call('DEL', leases_key)
  redis.call('ZREM', workers_key, worker_id)
  return out
end

local RUN_FIELDS = {'path', 'queue', 'priority', 'takes_context', 'args', 'kwargs',
  'run_after', 'enqueued_at', 'started_at', 'worker_ids', 'errors', 'attempts'}

-- Lease the next task of the given queues (highest priority, then oldest; ties between
-- queues go to the first listed) to worker_id under token. Idempotent: a retry with the
-- same token returns the task that the first call leased.
-- Returns {id, token, now, fields...} or {} when every queue is empty.
local function acquire(base, seq_key, leases_key, workers_key, stats_key, queues,
                       worker_id, token, lease_ms, hb_ttl, batch, result_ttl)
  local now = now_ms()
  local held = redis.call('HGET', leases_key, token)
  if held then
    local key = task_key(base, held)
    local f = redis.call('HMGET', key, 'status', 'token')
    if f[1] == 'RUNNING' and f[2] == token then
      local out = {held, token, now}
      local values = redis.call('HMGET', key, unpack(RUN_FIELDS))
      for _, v in ipairs(values) do table.insert(out, v) end
      return out
    end
  end
  for _, queue in ipairs(queues) do
    promote_due(base, seq_key, queue, now, batch)
  end
  -- Corrupt heads are quarantined and skipped, at most `batch` of them per call.
  for _ = 1, batch do
    local best_queue, best_id, best_score = nil, nil, nil
    for _, queue in ipairs(queues) do
      local head = redis.call('ZRANGE', qkey(base, queue, 'ready'), 0, 0, 'WITHSCORES')
      if head[1] and (best_score == nil or tonumber(head[2]) < best_score) then
        best_queue, best_id, best_score = queue, head[1], tonumber(head[2])
      end
    end
    if best_id == nil then
      return {}
    end
    local ready = qkey(base, best_queue, 'ready')
    redis.call('ZREM', ready, best_id)
    local key = task_key(base, best_id)
    local kind = redis.call('TYPE', key)['ok']
    local path = kind == 'hash' and redis.call('HGET', key, 'path')
    if kind ~= 'hash' then
      quarantine(base, stats_key, best_id, best_queue,
        kind == 'none' and 'task record is missing' or ('task record is a ' .. kind), now,
        result_ttl)
    elseif not path or path == '' then
      quarantine(base, stats_key, best_id, best_queue, 'task record has no task path', now,
        result_ttl)
    else
      local deadline = now + lease_ms
      local worker_ids = redis.call('HGET', key, 'worker_ids')
      local started = redis.call('HGET', key, 'started_at')
      if not started or started == '' then
        redis.call('HSET', key, 'started_at', now)
      end
      redis.call('HINCRBY', key, 'attempts', 1)
      redis.call('HSET', key, 'status', 'RUNNING', 'last_attempted_at', now,
        'token', token, 'worker', worker_id, 'deadline', deadline,
        'worker_ids', json_append(worker_ids, cjson.encode(worker_id)))
      redis.call('ZADD', qkey(base, best_queue, 'running'), deadline, best_id)
      redis.call('HSET', leases_key, token, best_id)
      redis.call('ZADD', workers_key, 'NX', now + hb_ttl, worker_id)
      -- Chain the wake-up: work is left, so let one more idle thread come for it.
      if redis.call('ZCARD', ready) > 0 then
        local wake = qkey(base, best_queue, 'wake')
        if redis.call('LLEN', wake) == 0 then
          redis.call('RPUSH', wake, '1')
        end
      end
      local out = {best_id, token, now}
      local values = redis.call('HMGET', key, unpack(RUN_FIELDS))
      for _, v in ipairs(values) do table.insert(out, v) end
      return out
    end
  end
  return {}
end

-- Store the outcome of a leased task. Fenced by the lease token:
-- 'OK' stored now; 'ALREADY_DONE' a retry of an acknowledgement that was stored;
-- 'LEASE_LOST' the lease expired or the task was handed to another worker; 'GONE' no record.
local function acknowledge(base, stats_key, leases_key, id, token, status, value, ttl)
  local key = task_key(base, id)
  redis.call('HDEL', leases_key, token)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    return 'GONE'
  end
  local f = redis.call('HMGET', key, 'status', 'token', 'queue')
  if f[2] ~= token then
    return 'LEASE_LOST'
  end
  if f[1] == 'SUCCESSFUL' or f[1] == 'FAILED' then
    return 'ALREADY_DONE'
  end
  if f[1] ~= 'RUNNING' then
    return 'LEASE_LOST'
  end
  finish(base, stats_key, id, f[3], status, value, now_ms(), ttl, true)
  return 'OK'
end
