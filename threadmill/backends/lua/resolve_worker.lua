-- resolve_worker: a worker process is gone (its pool saw it die); requeue each task it
-- held while attempts remain, else FAILED with WorkerLost; forget the worker.
-- flags: allow-oom
-- KEYS[1] seq, KEYS[2] stats, KEYS[3] worker registry, KEYS[4] leases hash of the worker
-- ARGV[1] base, ARGV[2] worker id, ARGV[3] reason, ARGV[4] max attempts, ARGV[5] result ttl
-- Returns {id1, outcome1, ...}; outcome is requeued, failed or skipped.
return resolve_worker(ARGV[1], KEYS[1], KEYS[3], ARGV[2], ARGV[3],
  tonumber(ARGV[4]), now_ms(), tonumber(ARGV[5]))
