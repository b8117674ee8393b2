-- park: lease the next ready task like acquire; when there is none, park the calling thread:
-- the next task pushed to one of its queues is leased to it at once and put in its mailbox
-- (see dispatch in _lib.lua), so an idle thread starts a task without another round trip.
-- flags: allow-oom (a full Redis must still drain)
-- KEYS[1] leases hash of the worker (other keys are derived from the base, same hash tag)
-- ARGV[1] base, ARGV[2] worker id, ARGV[3] lease token, ARGV[4] lease ms, ARGV[5] batch,
--   ARGV[6] result ttl ms, ARGV[7] mailbox id (worker id/thread), ARGV[8..] queues
-- Returns a lease (as acquire) or '' when the thread is now parked.
local base, worker, token, mbox = ARGV[1], ARGV[2], ARGV[3], ARGV[7]
local queues = {}
for i = 8, #ARGV do table.insert(queues, ARGV[i]) end
local now = now_ms()
local waiting = redis.call('LPOP', base .. 'mbox:' .. mbox) -- delivered, never collected
while waiting == 'stop' do -- a stop request that arrived after a task did: spent
  waiting = redis.call('LPOP', base .. 'mbox:' .. mbox)
end
if waiting then
  return waiting
end
local out = acquire(base, KEYS[1], queues, worker, token, tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]), now)
if out ~= '' then
  return out
end
redis.call('HSET', base .. 'park:' .. mbox, 'token', token, 'worker', worker,
  'lease_ms', ARGV[4], 'ttl', ARGV[6], 'queues', cjson.encode(queues))
redis.call('SADD', base .. 'parks:' .. worker, mbox)
for _, queue in ipairs(queues) do
  local idle = qkey(base, queue, 'idle')
  redis.call('LREM', idle, 0, mbox)
  redis.call('RPUSH', idle, mbox)
end
return ''
