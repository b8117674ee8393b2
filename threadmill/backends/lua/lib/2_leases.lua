-- ---- leasing: the next task of a thread's queues, and handing READY tasks to parked threads

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

