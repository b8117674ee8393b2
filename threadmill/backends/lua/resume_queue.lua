-- resume_queue: a paused queue takes tasks again; the threads parked on it are handed its
-- ready tasks at once (longest waiting first), so nothing waits for a poll.
-- flags: allow-oom (resuming moves tasks, it does not grow memory)
-- KEYS[1] paused: the set of paused queues (K.paused)
-- ARGV[1] base: the alias's key base (the queue's indexes, K.idle, parked threads)
-- ARGV[2] queue
-- Returns {was_paused (0/1), handed}: handed is how many tasks went to parked threads.
local base, queue = ARGV[1], ARGV[2]
local was = redis.call('SREM', KEYS[1], queue)
local now = now_ms()
local handed = 0
local idle = redis.call('LLEN', K.idle(base, queue))
for _ = 1, idle do
  if not dispatch(base, queue, now) then
    break
  end
  handed = handed + 1
end
return {was, handed}
