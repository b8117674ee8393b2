-- park: lease the next ready task like acquire; when there is none, park the calling thread:
-- the next task pushed to one of its queues is leased to it at once and put in its mailbox
-- (see dispatch in lib/2_leases.lua), so an idle thread starts a task without another round trip.
-- flags: allow-oom (a full Redis must still drain)
-- KEYS[1] leases: the worker's leases hash (K.leases)
-- ARGV[1] base: the alias's key base (K.mailbox, K.park, K.parks, K.idle, queue indexes)
-- ARGV[2] worker_id
-- ARGV[3] token: the new lease's token
-- ARGV[4] lease_ms: lease_ttl in ms
-- ARGV[5] batch: batch_size
-- ARGV[6] result_ttl_ms
-- ARGV[7] mailbox: the thread's mailbox id (worker id/thread)
-- ARGV[8..] queues
-- Returns a lease (as acquire) or '' when the thread is now parked.
local base, worker, token, mbox = ARGV[1], ARGV[2], ARGV[3], ARGV[7]
local queues = {}
for i = 8, #ARGV do table.insert(queues, ARGV[i]) end
local now = now_ms()
local mailbox = K.mailbox(base, mbox)
local waiting = redis.call('LPOP', mailbox) -- delivered, never collected
while waiting == 'stop' do -- a stop request that arrived after a task did: spent
  waiting = redis.call('LPOP', mailbox)
end
if waiting then
  return waiting
end
local out = acquire(base, KEYS[1], queues, worker, token, tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]), now)
if out ~= '' then
  return out
end
redis.call('HSET', K.park(base, mbox), 'token', token, 'worker', worker,
  'lease_ms', ARGV[4], 'ttl', ARGV[6], 'queues', cjson.encode(queues))
redis.call('SADD', K.parks(base, worker), mbox)
for _, queue in ipairs(queues) do
  local idle = K.idle(base, queue)
  redis.call('LREM', idle, 0, mbox)
  redis.call('RPUSH', idle, mbox)
end
return ''
