-- acknowledge: store the outcome of a leased task (fenced by its lease token) and, when a
-- next token is given, lease the next task in the same call (one round trip per task).
-- flags: allow-oom (acknowledging frees memory; a full Redis must still drain)
-- KEYS[1] leases hash of the worker, KEYS[2] the task record (other keys are derived from
--   the base, which carries the same hash tag)
-- ARGV[1] base, ARGV[2] worker id, ARGV[3] next lease token ('' = do not acquire),
--   ARGV[4] lease ms, ARGV[5] batch, ARGV[6] result ttl ms, ARGV[7] task id,
--   ARGV[8] its lease token, ARGV[9] SUCCESSFUL or FAILED, ARGV[10] return value JSON
--   (SUCCESSFUL) or TaskError JSON (FAILED), ARGV[11..] queues
-- Returns {outcome, finished_at_ms, next}: outcome is OK, ALREADY_DONE, LEASE_LOST or GONE;
--   next is the acquire reply ('' when nothing was leased).
local base, ttl = ARGV[1], tonumber(ARGV[6])
local now = now_ms()
local outcome = acknowledge(base, KEYS[1], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ttl, now)
local nxt = ''
if ARGV[3] ~= '' then
  local queues = {}
  for i = 11, #ARGV do table.insert(queues, ARGV[i]) end
  -- An acknowledgement applied just now (OK) means this call was not made before, so
  -- the next token cannot have leased anything yet (a retried call answers ALREADY_DONE).
  nxt = acquire(base, KEYS[1], queues, ARGV[2], ARGV[3], tonumber(ARGV[4]),
    tonumber(ARGV[5]), ttl, now, outcome == 'OK')
end
return {outcome, now, nxt}
