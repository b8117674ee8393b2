-- requeue: put finished (FAILED or SUCCESSFUL) tasks back to READY, in priority order,
-- keeping their id and history (errors, worker ids, attempts); a cancellation request of
-- an earlier run is dropped.
-- flags: allow-oom
-- KEYS[1..] task: the record of each task, in the order of the ids in ARGV
-- ARGV[1] base: the alias's key base (queue indexes, K.seq)
-- ARGV[2..] ids
-- Returns {id1, outcome1, ...}: requeued, or missing / corrupt / READY / DEFERRED / RUNNING
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
    local f = redis.call('HMGET', key, 'status', 'queue', 'priority', 'path')
    if (f[1] == 'FAILED' or f[1] == 'SUCCESSFUL') and f[4] and f[4] ~= '' then
      redis.call('ZREM', K.index(base, f[2], string.lower(f[1])), id)
      redis.call('PERSIST', key)
      redis.call('HSET', key, 'losses', 0, 'finished_at', '')
      redis.call('HDEL', key, 'cancel') -- a new run: an old cancellation request is history
      push_ready(base, f[2], id, f[3], now)
      outcome = 'requeued'
    elseif f[1] == 'FAILED' then
      outcome = 'corrupt'
    else
      outcome = f[1] or 'missing'
    end
  end
  table.insert(out, id)
  table.insert(out, outcome)
end
return out
