-- cancel: stop tasks from running. A READY or DEFERRED task is FAILED with Cancelled at
-- once; a RUNNING one gets a cancellation request (record field 'cancel') that its worker
-- receives on its control list; a finished task is refused.
-- flags: allow-oom (cancelling frees memory)
-- KEYS[1..] task: the record of each task, in the order of the ids in ARGV
-- ARGV[1] base: the alias's key base (queue indexes, K.control of the running task's worker)
-- ARGV[2] who: who cancels (in the error message and the request)
-- ARGV[3] terminate: '1' asks the worker to stop a RUNNING task now (a sync task's process
--   is replaced); '0' only requests it (the task may observe it and stop)
-- ARGV[4] result_ttl_ms
-- ARGV[5..] ids
-- Returns {id1, outcome1, ...}: cancelled, requested (RUNNING), SUCCESSFUL / FAILED (refused:
--   already finished), or missing.
local base, who, terminate, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local out = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = KEYS[i - 4]
  local outcome
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    outcome = 'missing'
  else
    local f = redis.call('HMGET', key, 'status', 'queue', 'worker', 'token', 'path')
    if f[1] == 'READY' or f[1] == 'DEFERRED' then
      redis.call('ZREM', K.index(base, f[2], 'ready'), id)
      redis.call('ZREM', K.index(base, f[2], 'deferred'), id)
      redis.call('ZREM', K.index(base, f[2], 'retrying'), id)
      local err = error_json('threadmill.exceptions.Cancelled',
        'threadmill.exceptions.Cancelled: cancelled by ' .. who .. ' while ' .. f[1])
      redis.call('HSET', key, 'cancel', who)
      finish(base, id, f[2], 'FAILED', err, now, ttl, false)
      outcome = 'cancelled'
    elseif f[1] == 'RUNNING' then
      redis.call('HSET', key, 'cancel', who)
      if f[3] and f[3] ~= '' then
        local control = K.control(base, f[3])
        redis.call('RPUSH', control, cjson.encode({id, f[4] or '', terminate == '1', who}))
        redis.call('PEXPIRE', control, CONTROL_TTL_MS)
      end
      outcome = 'requested'
    else
      outcome = f[1] or 'missing'
    end
  end
  table.insert(out, id)
  table.insert(out, outcome)
end
return out
