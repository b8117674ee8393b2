-- bulk_chunk: carry out one chunk of a bulk job (create_job.lua): examine the next `scan`
-- tasks of its index after its cursor (oldest first by index score, then by id), act on
-- those that pass its filter, and move the cursor past them, all in this one atomic call.
-- A chunk is applied entirely or not at all, and the cursor never goes back, so a task is
-- acted on once however many pools run chunks and whenever one is killed. Tasks that
-- enter the index after the job's creation are outside its time bound (`until`). A purge
-- also drops the entries whose record is gone.
-- flags: allow-oom (purging and cancelling free memory)
-- KEYS[1] job: the job's hash (K.job)
-- KEYS[2] active: the jobs not finished (K.active_jobs)
-- ARGV[1] base: the alias's key base (the index, task records, their queues' indexes)
-- ARGV[2] job_id
-- ARGV[3] scan: tasks examined at most (bounds the call's cost)
-- ARGV[4] result_ttl_ms: how long a cancelled task's result is kept
-- ARGV[5] keep_ms: how long the finished job's record stays
-- Returns {status, examined, acted, refused}: status is running, or done / cancelled /
--   missing when there is nothing (more) to do.
local base, job_id, scan = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ttl, keep = tonumber(ARGV[4]), tonumber(ARGV[5])
local j = redis.call('HMGET', KEYS[1], 'status', 'action', 'queue', 'state', 'who',
  'cursor_score', 'cursor_id', 'until', 'f_path', 'f_error', 'f_worker', 'f_args', 'f_since',
  'time_field', 'index')
if j[1] ~= 'waiting' and j[1] ~= 'running' then
  redis.call('SREM', KEYS[2], job_id)
  return {j[1] or 'missing', 0, 0, 0}
end
local action, state, who = j[2], j[4], j[5]
local cscore, cid = j[6] or '', j[7] or ''
local flt = make_filter(j[9], j[10], j[11], j[12], j[13], j[8], j[14])
local fields = filter_fields(flt)
local index = K.index(base, j[3], j[15] or state) -- the state's index, or 'retrying'
local finished = state == 'successful' or state == 'failed'
local lo = cscore ~= '' and cscore or '-inf'
local hi = finished and j[8] or '+inf' -- a finished index's score is its finished_at

-- The next `scan` positions after the cursor (a same-score run is ordered by id).
local picked, last_score, last_id = {}, cscore, cid
local offset = 0
while #picked < scan do
  local batch = redis.call('ZRANGE', index, lo, hi, 'BYSCORE', 'LIMIT', offset, scan,
    'WITHSCORES')
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    if not (cscore ~= '' and tonumber(score) == tonumber(cscore) and id <= cid) then
      table.insert(picked, id)
      last_score, last_id = score, id
      if #picked >= scan then
        break
      end
    end
  end
  if #batch < 2 * scan then
    break
  end
  offset = offset + scan
end

local now = now_ms()
local acted, refused = 0, 0
for _, id in ipairs(picked) do
  local key = K.task(base, id)
  -- An entry whose record is gone (expired, lost) matches nothing, but a purge drops it.
  local ghost = action == 'purge' and redis.call('EXISTS', key) == 0
  if ghost or task_matches(key, flt, fields) then
    local outcome
    if action == 'requeue' then
      outcome = requeue_one(base, id, key, now)
    elseif action == 'purge' then
      outcome = purge_one(base, id, key, j[3])
    else
      outcome = cancel_one(base, id, key, who, '0', now, ttl)
    end
    if outcome == 'requeued' or outcome == 'purged' or outcome == 'cancelled'
        or outcome == 'requested' then
      acted = acted + 1
    else
      refused = refused + 1
    end
    redis.call('HINCRBY', KEYS[1], 'o:' .. outcome, 1)
  end
end
local status = 'running'
redis.call('HSET', KEYS[1], 'cursor_score', last_score, 'cursor_id', last_id,
  'updated_at', now)
if j[1] == 'waiting' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', now)
end
redis.call('HINCRBY', KEYS[1], 'examined', #picked)
redis.call('HINCRBY', KEYS[1], 'acted', acted)
redis.call('HINCRBY', KEYS[1], 'refused', refused)
if #picked < scan then
  status = 'done'
  redis.call('HSET', KEYS[1], 'status', 'done', 'finished_at', now)
  redis.call('SREM', KEYS[2], job_id)
  redis.call('PEXPIRE', KEYS[1], keep)
end
return {status, #picked, acted, refused}
