-- expire_leases: RUNNING tasks past their lease deadline become FAILED with
-- AcknowledgementTimeout; their worker's late acknowledgement will get LEASE_LOST.
-- flags: allow-oom
-- KEYS[1] stats, KEYS[2..] the running index of each queue
-- ARGV[1] base, ARGV[2] batch, ARGV[3] result ttl ms, ARGV[4] lease ttl ms (for the
--   message), ARGV[5] expire until (ms, Redis time; '' = no limit: see reap_workers.lua),
--   ARGV[6..] queues (same order as KEYS[2..])
-- Returns the list of expired task ids.
local base, batch, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local expired = {}
if ARGV[5] ~= '' and now > tonumber(ARGV[5]) then
  return expired
end
for i = 6, #ARGV do
  local queue = ARGV[i]
  local ids = redis.call('ZRANGEBYSCORE', KEYS[i - 4], '-inf', now, 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    local key = task_key(base, id)
    local f = redis.call('HMGET', key, 'worker', 'token', 'attempts')
    if f[1] and f[1] ~= '' and f[2] then
      redis.call('HDEL', base .. 'leases:' .. f[1], f[2])
    end
    local err = error_json('threadmill.exceptions.AcknowledgementTimeout',
      'threadmill.exceptions.AcknowledgementTimeout: attempt ' .. (f[3] or '?')
      .. ' was not acknowledged within lease_ttl (' .. (tonumber(ARGV[4]) / 1000)
      .. ' s) by worker ' .. (f[1] or '?'))
    finish(base, id, queue, 'FAILED', err, now, ttl, false)
    table.insert(expired, id)
  end
end
return expired
