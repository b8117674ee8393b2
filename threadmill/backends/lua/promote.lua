-- promote: move due DEFERRED tasks of the listed queues to READY (at most batch per queue).
-- Queues with nothing due are skipped after one read of the due index.
-- flags: allow-oom (promotion does not grow memory)
-- KEYS[1] seq, KEYS[2] the due index (the queues' indexes are derived from the base, which
--   carries the same hash tag)
-- ARGV[1] base, ARGV[2] batch, ARGV[3..] queues
-- Returns the number promoted.
local queues = {}
for i = 3, #ARGV do table.insert(queues, ARGV[i]) end
return promote_listed(ARGV[1], queues, now_ms(), tonumber(ARGV[2]))
