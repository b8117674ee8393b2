-- cancel: stop tasks from running. A READY or DEFERRED task is FAILED with Cancelled at
-- once; a RUNNING one gets a cancellation request (record field 'cancel') that its worker
-- receives on its control list; a finished task is refused.
-- flags: allow-oom (cancelling frees memory)
-- KEYS[1..] task: the record of each task, in the order of the ids in ARGV
-- ARGV[1] base: the alias's key base (queue indexes, K.control of the running task's worker)
-- ARGV[2] who: who cancels (in the error message and the request)
-- ARGV[3] terminate: '1' asks the worker to stop a RUNNING task now (a sync task's process
--   is replaced); '0' only requests it (the task may observe it and stop)
-- ARGV[4] result_ttl_ms
-- ARGV[5..] ids
-- Returns {id1, outcome1, ...}: cancelled, requested (RUNNING), SUCCESSFUL / FAILED (refused:
--   already finished), or missing.
local base, who, terminate, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local out = {}
for i = 5, #ARGV do
  table.insert(out, ARGV[i])
  table.insert(out, cancel_one(base, ARGV[i], KEYS[i - 4], who, terminate, now, ttl))
end
return out
