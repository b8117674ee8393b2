-- acquire: lease the next ready task of the listed queues (promoting due deferred tasks
-- first). A retry with the same token returns the same task (idempotent).
-- flags: allow-oom (a full Redis must still drain)
-- KEYS[1] seq, KEYS[2] leases hash of the worker, KEYS[3] worker registry, KEYS[4] stats,
--   KEYS[5..] the ready, deferred, running, successful, failed, wake keys of each queue
-- ARGV[1] base, ARGV[2] worker id, ARGV[3] lease token, ARGV[4] lease ms,
--   ARGV[5] heartbeat ttl ms, ARGV[6] batch size, ARGV[7] result ttl ms, ARGV[8..] queues
-- Returns {} or {id, token, now_ms, path, queue, priority, takes_context, args, kwargs,
--   run_after, enqueued_at, started_at, worker_ids, errors, attempts}
local queues = {}
for i = 8, #ARGV do table.insert(queues, ARGV[i]) end
return acquire(ARGV[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4], queues, ARGV[2], ARGV[3],
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
