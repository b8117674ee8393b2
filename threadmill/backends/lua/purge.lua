-- purge: remove tasks and everything they left in Redis (record, result, index entry).
-- RUNNING tasks are refused: their worker holds them.
-- flags: allow-oom (purging frees memory)
-- KEYS[1..] task: the record of each task, in the order of the ids in ARGV
-- ARGV[1] base: the alias's key base (queue indexes, the unique claims of the tasks)
-- ARGV[2] queue: where ids without a record may still sit ('' = nowhere to look)
-- ARGV[3..] ids
-- Returns {id1, outcome1, ...}: purged, RUNNING (refused) or missing.
local base, hint = ARGV[1], ARGV[2]
local out = {}
for i = 3, #ARGV do
  table.insert(out, ARGV[i])
  table.insert(out, purge_one(base, ARGV[i], KEYS[i - 2], hint))
end
return out
