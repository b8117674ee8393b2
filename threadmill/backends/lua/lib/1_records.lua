-- Shared helpers, prepended to every script by lua.py (Redis cannot include files): the
-- files of lua/lib in name order. This first one: the key-name rule and the task records.
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

