-- create_job: record a bulk job (requeue, purge or cancel every task of one index that
-- passes a filter), which the pools' brokers then carry out in chunks (bulk_chunk.lua).
-- Its time bound is fixed here, on Redis's clock: a task that reaches the index after
-- the job was created (a requeued task failing again, a new enqueue) is left alone, so no
-- task is acted on twice. Finished jobs older than keep_ms are dropped from the jobs list.
-- KEYS[1] job: the job's hash (K.job)
-- KEYS[2] jobs: every job by creation time (K.jobs)
-- KEYS[3] active: the jobs not finished (K.active_jobs)
-- KEYS[4] index: the index it walks (for its size at creation)
-- ARGV[1] job_id
-- ARGV[2] keep_ms: how long finished jobs stay listed
-- ARGV[3] until_ms: the filter's own upper time bound ('' = none)
-- ARGV[4..] fields: name, value pairs of the job (action, queue, state, who, filter ...)
-- Returns the job's creation time (ms, Redis time).
local now = now_ms()
local until_ms = now
if ARGV[3] ~= '' and tonumber(ARGV[3]) < now then
  until_ms = tonumber(ARGV[3])
end
local fields = {}
for i = 4, #ARGV do
  table.insert(fields, ARGV[i])
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'status', 'waiting', 'created_at', now,
  'updated_at', now, 'until', until_ms, 'total', redis.call('ZCARD', KEYS[4]),
  'cursor_score', '', 'cursor_id', '', 'examined', 0, 'acted', 0, 'refused', 0,
  unpack(fields))
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, 100)
for _, job_id in ipairs(old) do
  if redis.call('SISMEMBER', KEYS[3], job_id) == 0 then
    redis.call('ZREM', KEYS[2], job_id)
  end
end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return now
