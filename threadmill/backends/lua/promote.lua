-- promote: move due DEFERRED tasks of the listed queues to READY (at most batch per queue).
-- Queues with nothing due are skipped after one read of the due index.
-- flags: allow-oom (promotion does not grow memory)
-- KEYS[1] due: the due index (K.due)
-- ARGV[1] base: the alias's key base (queue indexes, task records, K.seq)
-- ARGV[2] batch: most tasks promoted per queue
-- ARGV[3..] queues
-- Returns the number promoted.
local queues = {}
for i = 3, #ARGV do table.insert(queues, ARGV[i]) end
return promote_listed(ARGV[1], KEYS[1], queues, now_ms(), tonumber(ARGV[2]))
