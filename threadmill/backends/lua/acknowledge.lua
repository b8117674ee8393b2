-- acknowledge: store the outcome of a leased task (fenced by its lease token) and, when a
-- next token is given, lease the next task in the same call (one round trip per task).
-- flags: allow-oom (acknowledging frees memory; a full Redis must still drain)
-- KEYS[1] leases: the worker's leases hash (K.leases)
-- KEYS[2] task: the task record (K.task)
-- ARGV[1] base: the alias's key base
-- ARGV[2] worker_id
-- ARGV[3] next_token: lease token for the next task ('' = do not lease one)
-- ARGV[4] lease_ms: lease_ttl in ms
-- ARGV[5] batch: batch_size (corrupt heads skipped at most)
-- ARGV[6] result_ttl_ms
-- ARGV[7] task_id
-- ARGV[8] token: the lease token of the acknowledged task
-- ARGV[9] status: SUCCESSFUL, FAILED, or RETRY (failed; try again after retry_ms)
-- ARGV[10] value: return value JSON (SUCCESSFUL) or TaskError JSON (FAILED, RETRY)
-- ARGV[11] retry_ms: with RETRY, the delay before the next attempt ('' otherwise)
-- ARGV[12] metrics_ms: metrics_window in ms (0: no run metrics; see record_run in lib/)
-- ARGV[13..] queues: the queues to lease the next task from
-- Returns {outcome, finished_at_ms, next}: outcome is OK, ALREADY_DONE, LEASE_LOST or GONE;
--   next is a lease as acquire returns it ('' when nothing was leased).
local base, ttl = ARGV[1], tonumber(ARGV[6])
local now = now_ms()
local outcome, f, kind = acknowledge(base, KEYS[1], KEYS[2], ARGV[7], ARGV[8], ARGV[9],
  ARGV[10], ttl, now, ARGV[11])
if kind then -- stored just now: count the run (f: the record's fields acknowledge read)
  record_run(base, f[3], f[6], kind, now - (tonumber(f[7]) or now), now, tonumber(ARGV[12]),
    ARGV[7], ARGV[10])
end
local nxt = ''
if ARGV[3] ~= '' then
  local queues = {}
  for i = 13, #ARGV do table.insert(queues, ARGV[i]) end
  -- An acknowledgement applied just now (OK) means this call was not made before, so
  -- the next token cannot have leased anything yet (a retried call answers ALREADY_DONE).
  nxt = acquire(base, KEYS[1], queues, ARGV[2], ARGV[3], tonumber(ARGV[4]),
    tonumber(ARGV[5]), ttl, now, outcome == 'OK')
end
return {outcome, now, nxt}
