-- unpark: a parked thread stops waiting (its wait timed out, failed, or it must stop).
-- If a task was handed to it meanwhile, it gets that lease: from its mailbox, or, when the
-- reply to its blocking pop was lost, from the lease record (the token says which task).
-- flags: allow-oom
-- KEYS[1] leases: the worker's leases hash (K.leases)
-- ARGV[1] base: the alias's key base (K.park, K.mailbox, K.idle)
-- ARGV[2] mailbox: the thread's mailbox id
-- ARGV[3] token: the token the thread parked with
-- Returns the lease handed to it, or '' (it was still parked: it is not any more).
local base, mbox, token = ARGV[1], ARGV[2], ARGV[3]
local park = redis.call('HMGET', K.park(base, mbox), 'token', 'queues')
if park[1] == token then
  forget_park(base, mbox, park[2])
  return ''
end
local delivered = redis.call('LPOP', K.mailbox(base, mbox))
if delivered then
  return delivered
end
return acquire_held(base, KEYS[1], token, now_ms()) or ''
