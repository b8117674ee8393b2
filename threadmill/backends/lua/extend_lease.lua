-- extend_lease: move the deadline of a leased task to now + ms (fenced by the token).
-- flags: allow-oom
-- KEYS[1] the task record
-- ARGV[1] base, ARGV[2] task id, ARGV[3] lease token, ARGV[4] ms from now
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
redis.call('ZADD', qkey(ARGV[1], f[3], 'running'), 'XX', deadline, ARGV[2])
return {'OK', deadline}
