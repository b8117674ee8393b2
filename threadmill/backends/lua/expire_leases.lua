-- expire_leases: RUNNING tasks past their lease deadline become FAILED with
-- AcknowledgementTimeout; their worker's late acknowledgement will get LEASE_LOST.
-- flags: allow-oom
-- KEYS[1..] running: the running index of each queue, in the order of the queues in ARGV
-- ARGV[1] base: the alias's key base (task records, the workers' leases hashes)
-- ARGV[2] batch: most tasks expired per queue
-- ARGV[3] result_ttl_ms
-- ARGV[4] lease_ms: lease_ttl in ms (for the error message)
-- ARGV[5] until_ms: Redis time after which the call is stale and expires nothing ('' = no
--   limit; see reap_workers.lua)
-- ARGV[6..] queues
-- Returns the list of expired task ids.
local base, batch, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local expired = {}
if ARGV[5] ~= '' and now > tonumber(ARGV[5]) then
  return expired
end
for i = 6, #ARGV do
  local queue = ARGV[i]
  local ids = redis.call('ZRANGEBYSCORE', KEYS[i - 5], '-inf', now, 'LIMIT', 0, batch)
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', K.task(base, id), 'worker', 'token', 'attempts')
    if f[1] and f[1] ~= '' and f[2] then
      redis.call('HDEL', K.leases(base, f[1]), f[2])
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
