-- resolve_worker: a worker process is gone (its pool saw it die); requeue each task it
-- held while attempts remain, else FAILED with WorkerLost; forget the worker.
-- flags: allow-oom
-- KEYS[1] workers: the worker registry (K.workers)
-- KEYS[2] leases: the worker's leases hash (K.leases)
-- ARGV[1] base: the alias's key base (K.parks, K.park, K.mailbox, K.control and the tasks
--   it held)
-- ARGV[2] worker_id
-- ARGV[3] reason: why the worker is gone (in the WorkerLost error)
-- ARGV[4] max_attempts
-- ARGV[5] result_ttl_ms
-- ARGV[6] charge: '1' the worker died (each task's attempt counts as lost); '0' it was
--   replaced on purpose for one task's sake (a time limit, a terminate request): the others
--   go back to READY with their attempt given back
-- Returns {id1, outcome1, ...}; outcome is requeued, released (charge '0'), failed,
--   cancelled (a cancellation had been requested) or skipped.
return resolve_worker(ARGV[1], KEYS[1], KEYS[2], ARGV[2], ARGV[3], tonumber(ARGV[4]),
  now_ms(), tonumber(ARGV[5]), ARGV[6] ~= '0')
