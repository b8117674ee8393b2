-- cancel_job: stop a bulk job that has not finished; what it did so far stays done.
-- KEYS[1] job: the job's hash (K.job)
-- KEYS[2] active: the jobs not finished (K.active_jobs)
-- ARGV[1] job_id
-- ARGV[2] who: who cancels it
-- ARGV[3] keep_ms: how long the finished job's record stays
-- Returns the job's status afterwards: cancelled, or done / cancelled (it had finished
--   already), or missing.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('SREM', KEYS[2], ARGV[1])
  return 'missing'
end
if status == 'waiting' or status == 'running' then
  local now = now_ms()
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancelled_by', ARGV[2],
    'finished_at', now, 'updated_at', now)
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 'cancelled'
end
return status
