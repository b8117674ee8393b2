-- promote: move due DEFERRED tasks of each queue to READY (at most batch per queue).
-- flags: allow-oom (promotion does not grow memory)
-- KEYS[1] seq, KEYS[2..] the deferred index of each queue
-- ARGV[1] base, ARGV[2] batch, ARGV[3..] queues (same order as KEYS[2..])
-- Returns the number promoted.
local n = 0
local now = now_ms()
for i = 3, #ARGV do
  n = n + promote_due(ARGV[1], KEYS[1], ARGV[i], now, tonumber(ARGV[2]))
end
return n
