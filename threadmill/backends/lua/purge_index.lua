-- purge_index: purge the first `batch` tasks of one queue's ready, deferred, successful
-- or failed index (the admin's "purge all", done in chunks so Redis is never blocked).
-- flags: allow-oom
-- KEYS[1] index: the index (K.index)
-- ARGV[1] base: the alias's key base (task records, their unique claims, the retrying
--   index)
-- ARGV[2] batch
-- Returns {purged_count, remaining}.
local base = ARGV[1]
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
for _, id in ipairs(ids) do
  local f = redis.pcall('HMGET', K.task(base, id), 'queue', 'unique')
  if not f['err'] then
    release_claim(base, f[2], id)
    if f[1] then
      redis.call('ZREM', K.index(base, f[1], 'retrying'), id)
    end
  end
  redis.call('DEL', K.task(base, id))
end
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
end
return {#ids, redis.call('ZCARD', KEYS[1])}
