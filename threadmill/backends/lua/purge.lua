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
  local id = ARGV[i]
  local key = KEYS[i - 2]
  local outcome = 'purged'
  if redis.call('TYPE', key)['ok'] == 'hash' then
    local f = redis.call('HMGET', key, 'status', 'queue', 'unique')
    if f[1] == 'RUNNING' then
      outcome = 'RUNNING'
    else
      if f[2] and f[1] then
        redis.call('ZREM', K.index(base, f[2], string.lower(f[1])), id)
        redis.call('ZREM', K.index(base, f[2], 'retrying'), id)
      end
      release_claim(base, f[3], id)
      redis.call('DEL', key)
    end
  elseif redis.call('EXISTS', key) == 1 then
    redis.call('DEL', key)
  else
    outcome = 'missing'
  end
  if hint ~= '' and outcome ~= 'RUNNING' then
    for _, status in ipairs({'ready', 'deferred', 'successful', 'failed'}) do
      if redis.call('ZREM', K.index(base, hint, status), id) == 1 and outcome == 'missing' then
        outcome = 'purged'
      end
    end
  end
  table.insert(out, id)
  table.insert(out, outcome)
end
return out
