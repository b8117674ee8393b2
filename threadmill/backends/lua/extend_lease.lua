-- extend_lease: move the deadline of a leased task to now + ms (fenced by the token).
-- flags: allow-oom
-- KEYS[1] task: the task record (K.task)
-- ARGV[1] base: the alias's key base (the queue's running index)
-- ARGV[2] task_id
-- ARGV[3] token: the task's lease token
-- ARGV[4] ms: the new deadline, in ms from now
-- Returns {outcome, deadline_ms}: OK, LEASE_LOST or GONE.
local key = KEYS[1]
if redis.call('TYPE', key)['ok'] ~= 'hash' then
  return {'GONE', 0}
end
local f = redis.call('HMGET', key, 'status', 'token', 'queue')
if f[1] ~= 'RUNNING' or f[2] ~= ARGV[3] then
  return {'LEASE_LOST', 0}
end
local deadline = now_ms() + tonumber(ARGV[4])
redis.call('HSET', key, 'deadline', deadline)
redis.call('ZADD', K.index(ARGV[1], f[3], 'running'), 'XX', deadline, ARGV[2])
return {'OK', deadline}
