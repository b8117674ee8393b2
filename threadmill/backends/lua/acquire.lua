-- acquire: lease the next ready task of the listed queues (promoting due deferred tasks when
-- nothing is ready). A retry with the same token returns the same task (idempotent). Used by
-- --exit-empty workers, which do not park; other idle threads use park.
-- flags: allow-oom (a full Redis must still drain)
-- KEYS[1] leases hash of the worker (every other key is derived from the base, which
--   carries the same hash tag: task records and queue indexes)
-- ARGV[1] base, ARGV[2] worker id, ARGV[3] lease token, ARGV[4] lease ms, ARGV[5] batch,
--   ARGV[6] result ttl ms, ARGV[7..] queues
-- Returns '' (nothing to run) or the lease as one JSON array: [id, token, now_ms, path,
--   queue, priority, takes_context, args, kwargs, run_after, enqueued_at, started_at,
--   worker_ids, errors, attempts]
local queues = {}
for i = 7, #ARGV do table.insert(queues, ARGV[i]) end
return acquire(ARGV[1], KEYS[1], queues, ARGV[2], ARGV[3], tonumber(ARGV[4]),
  tonumber(ARGV[5]), tonumber(ARGV[6]), now_ms())
