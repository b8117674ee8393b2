-- schedule: claim one slot of a periodic schedule and enqueue its task, atomically, so that a
-- slot is enqueued once however many pools' brokers call this for it. A schedule's state
-- hash keeps `last` (the newest slot claimed, ms), `paused`, `skipped` (slots not run:
-- paused, overlapping, or missed with catch_up none), `skipped_last` and `current` (the id
-- of its newest task); its runs list keeps the newest runs as 'slot_ms:task_id:how'.
-- flags: (none: refused at maxmemory like enqueue)
-- KEYS[1] schedule: the schedule's state (K.schedule)
-- KEYS[2] runs: the schedule's recent runs (K.schedule_runs)
-- KEYS[3] task: the record of the task this call would create (K.task)
-- ARGV[1] base: the alias's key base (the queue's indexes, K.seq, K.queues, K.stats)
-- ARGV[2] queue
-- ARGV[3] name: the schedule's name (in the task record)
-- ARGV[4] slot_ms: the slot (for mode 'now': the time asked, for the record)
-- ARGV[5] mode: 'slot' enqueue the slot unless claimed, not yet due, paused or
--   overlapping; 'catch-up' the same for a slot missed while no pool ran (recorded so); 'skip' claim it without running it (a missed slot); 'now' run once now,
--   whatever the slots and the pause
-- ARGV[6] overlap: '0' skips a slot while the schedule's previous task is not finished
-- ARGV[7] history: how many runs the runs list keeps
-- ARGV[8] id
-- ARGV[9] path
-- ARGV[10] priority
-- ARGV[11] takes_context: 0/1
-- ARGV[12] args: JSON
-- ARGV[13] kwargs: JSON
-- ARGV[14] timeout_ms: ('' = none)
-- ARGV[15] expires_ms: ('' = none)
-- ARGV[16] unique: digest ('' = not unique)
-- Returns {outcome, task_id, now_ms}: outcome is enqueued, claimed (someone else did it),
--   early (Redis time is before the slot), paused, overlap, unique (an equal unique task is
--   live; its id returned), or skipped (mode 'skip').
local state, runs, key = KEYS[1], KEYS[2], KEYS[3]
local base, queue, slot, mode = ARGV[1], ARGV[2], tonumber(ARGV[4]), ARGV[5]
local now = now_ms()
local id = ARGV[8]

local function remember(how, task_id)
  redis.call('LPUSH', runs, slot .. ':' .. task_id .. ':' .. how)
  redis.call('LTRIM', runs, 0, tonumber(ARGV[7]) - 1)
end

local function skip(why)
  redis.call('HINCRBY', state, 'skipped', 1)
  redis.call('HSET', state, 'skipped_last', slot)
  remember(why, '')
  return {why, '', now}
end

if mode ~= 'now' then
  local last = tonumber(redis.call('HGET', state, 'last'))
  if last and slot <= last then
    return {'claimed', '', now}
  end
  if slot > now then
    return {'early', '', now}
  end
  redis.call('HSET', state, 'last', slot)
  if mode == 'skip' then
    return skip('skipped')
  end
  if redis.call('HGET', state, 'paused') == '1' then
    return skip('paused')
  end
  local current = redis.call('HGET', state, 'current')
  if ARGV[6] == '0' and current and is_live(base, current) then
    return skip('overlap')
  end
end
local made = create_task(base, queue, key, id, ARGV[9], ARGV[10], ARGV[11], '', ARGV[12],
  ARGV[13], ARGV[14], ARGV[15], ARGV[16], now)
if made ~= true and made then
  remember('unique', made)
  return {'unique', made, now}
end
redis.call('HSET', key, 'slot', slot, 'schedule', ARGV[3])
redis.call('HSET', state, 'current', id)
redis.call('SADD', K.queues(base), queue)
redis.call('HINCRBY', K.stats(base), queue .. ':enqueued', 1)
remember(mode, id)
return {'enqueued', id, now}
