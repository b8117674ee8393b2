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

