-- acknowledge: store the outcome of a leased task (fenced by its lease token) and, when
-- a next token is given, lease the next task in the same call (one round trip per task).
-- flags: allow-oom (acknowledging frees memory; a full Redis must still drain)
-- KEYS[1] seq, KEYS[2] leases hash of the worker, KEYS[3] worker registry, KEYS[4] stats,
--   KEYS[5] the task record, KEYS[6..] the six keys of each listened queue (as acquire)
-- ARGV[1] base, ARGV[2] worker id, ARGV[3] next lease token ('' = do not acquire),
--   ARGV[4] lease ms, ARGV[5] heartbeat ttl ms, ARGV[6] batch, ARGV[7] result ttl ms,
--   ARGV[8] task id, ARGV[9] its lease token, ARGV[10] SUCCESSFUL or FAILED,
--   ARGV[11] return value JSON (SUCCESSFUL) or TaskError JSON (FAILED), ARGV[12..] queues
-- Returns {outcome, finished_at_ms, next...}: outcome is OK, ALREADY_DONE, LEASE_LOST or
--   GONE; next is the acquire reply (empty when nothing was leased).
local base, ttl = ARGV[1], tonumber(ARGV[7])
local outcome = acknowledge(base, KEYS[4], KEYS[2], ARGV[8], ARGV[9], ARGV[10], ARGV[11],
  ttl)
local out = {outcome, now_ms()}
if ARGV[3] ~= '' then
  local queues = {}
  for i = 12, #ARGV do table.insert(queues, ARGV[i]) end
  local nxt = acquire(base, KEYS[1], KEYS[2], KEYS[3], KEYS[4], queues, ARGV[2], ARGV[3],
    tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ttl)
  for _, v in ipairs(nxt) do table.insert(out, v) end
end
return out
