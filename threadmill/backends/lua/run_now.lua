-- run_now: move DEFERRED tasks (waiting for their time or for a retry) to READY now, keeping
-- their id, history and priority; a parked thread gets one at once.
-- flags: allow-oom (moving a task does not grow memory)
-- KEYS[1..] task: the record of each task, in the order of the ids in ARGV
-- ARGV[1] base: the alias's key base (queue indexes, K.seq)
-- ARGV[2..] ids
-- Returns {id1, outcome1, ...}: moved, or missing / READY / RUNNING / SUCCESSFUL / FAILED
-- (the state that made it refuse).
local base = ARGV[1]
local now = now_ms()
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local key = KEYS[i - 1]
  local outcome
  if redis.call('TYPE', key)['ok'] ~= 'hash' then
    outcome = 'missing'
  else
    local f = redis.call('HMGET', key, 'status', 'queue', 'priority', 'limits')
    if f[1] == 'DEFERRED' and f[2] then
      redis.call('ZREM', K.index(base, f[2], 'deferred'), id)
      redis.call('ZREM', K.index(base, f[2], 'retrying'), id)
      redis.call('HSET', key, 'run_after', now)
      local timeout_ms, expires_ms = parse_limits(f[4])
      if expires_ms then -- its expiry counts from when it became due: now
        redis.call('HSET', key, 'limits', (timeout_ms or '') .. ':' .. expires_ms .. ':' .. now)
      end
      push_ready(base, f[2], id, f[3], now)
      outcome = 'moved'
    else
      outcome = f[1] or 'missing'
    end
  end
  table.insert(out, id)
  table.insert(out, outcome)
end
return out
