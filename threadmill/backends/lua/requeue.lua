-- requeue: put finished (FAILED or SUCCESSFUL) tasks back to READY, in priority order,
-- keeping their id and history (errors, worker ids, attempts); a cancellation request of
-- an earlier run is dropped.
-- flags: allow-oom
-- KEYS[1..] task: the record of each task, in the order of the ids in ARGV
-- ARGV[1] base: the alias's key base (queue indexes, K.seq)
-- ARGV[2..] ids
-- Returns {id1, outcome1, ...}: requeued, or missing / corrupt / READY / DEFERRED / RUNNING
-- (the state that made it refuse).
local base = ARGV[1]
local now = now_ms()
local out = {}
for i = 2, #ARGV do
  table.insert(out, ARGV[i])
  table.insert(out, requeue_one(base, ARGV[i], KEYS[i - 1], now))
end
return out
