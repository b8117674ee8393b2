-- acquire: lease the next ready task of the listed queues (promoting due deferred tasks when
-- nothing is ready). A retry with the same token returns the same task (idempotent). Used by
-- --exit-empty workers, which do not park; other idle threads use park.
-- flags: allow-oom (a full Redis must still drain)
-- KEYS[1] leases: the worker's leases hash (K.leases)
-- ARGV[1] base: the alias's key base (task records and queue indexes are K.task, K.index)
-- ARGV[2] worker_id
-- ARGV[3] token: the new lease's token
-- ARGV[4] lease_ms: lease_ttl in ms
-- ARGV[5] batch: batch_size (corrupt heads skipped at most)
-- ARGV[6] result_ttl_ms
-- ARGV[7..] queues
-- Returns '' (nothing to run) or the lease as one JSON array: [id, token, now_ms, path,
--   queue, priority, takes_context, args, kwargs, run_after, enqueued_at, started_at,
--   worker_ids, errors, attempts]
local queues = {}
for i = 7, #ARGV do table.insert(queues, ARGV[i]) end
return acquire(ARGV[1], KEYS[1], queues, ARGV[2], ARGV[3], tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]), now_ms())
