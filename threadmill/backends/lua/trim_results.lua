-- trim_results: drop ids of expired results from the finished indexes.
-- flags: allow-oom
-- KEYS[1..] index: the successful and failed index of each queue
-- ARGV[1] result_ttl_ms
-- ARGV[2] batch: most ids dropped per index
-- Returns the number of ids dropped.
local now = now_ms()
local n = 0
for i = 1, #KEYS do
  n = n + trim_finished(KEYS[i], now, tonumber(ARGV[1]), tonumber(ARGV[2]))
end
return n
