-- ---- task filters (search.lua, bulk_chunk.lua) ---------------------------------------
-- A filter is a table {path, error, worker, args, since, until, time_field}: '' (or nil
-- for the times) means any. path, worker and args are plain substrings (of the task path,
-- of the JSON list of its workers' ids, of its args and kwargs JSON); error is the class
-- of its last error, by full path or by name; since/until bound (inclusive, ms) its
-- time_field (finished_at for finished tasks, enqueued_at for the others).

-- The exception class path of the last error in an errors JSON list, or nil.
local function last_error_class(errors)
  local last = nil
  if errors then
    for cls in string.gmatch(errors, '"exception_class_path"%s*:%s*"([^"]*)"') do
      last = cls
    end
  end
  return last
end

-- The record fields a filter needs, in the order task_matches reads them.
local function filter_fields(flt)
  local fields = {'path'}
  if flt.error ~= '' then table.insert(fields, 'errors') end
  if flt.worker ~= '' then table.insert(fields, 'worker_ids') end
  if flt.args ~= '' then
    table.insert(fields, 'args')
    table.insert(fields, 'kwargs')
  end
  if flt.since or flt['until'] then table.insert(fields, flt.time_field) end
  return fields
end

-- Whether the record at key passes the filter (`fields`: filter_fields(flt)).
local function task_matches(key, flt, fields)
  local v = redis.pcall('HMGET', key, unpack(fields))
  if v['err'] then
    return false
  end
  local n = 1
  if flt.path ~= '' and not (v[1] and string.find(v[1], flt.path, 1, true)) then
    return false
  end
  if flt.error ~= '' then
    n = n + 1
    -- A plain search first: most records do not mention the class at all.
    if not (v[n] and string.find(v[n], flt.error, 1, true)) then
      return false
    end
    local cls = last_error_class(v[n])
    if not cls then
      return false
    end
    local short = string.match(cls, '([^%.]+)$')
    if cls ~= flt.error and short ~= flt.error then
      return false
    end
  end
  if flt.worker ~= '' then
    n = n + 1
    if not (v[n] and string.find(v[n], flt.worker, 1, true)) then
      return false
    end
  end
  if flt.args ~= '' then
    n = n + 2
    local a, kw = v[n - 1] or '', v[n] or ''
    if not (string.find(a, flt.args, 1, true) or string.find(kw, flt.args, 1, true)) then
      return false
    end
  end
  if flt.since or flt['until'] then
    n = n + 1
    local t = tonumber(v[n])
    if not t or (flt.since and t < flt.since) or (flt['until'] and t > flt['until']) then
      return false
    end
  end
  return true
end

-- A filter from seven strings (path, error, worker, args, since_ms, until_ms, time_field).
local function make_filter(path, err, worker, args, since, until_, time_field)
  return {path = path or '', error = err or '', worker = worker or '', args = args or '',
    since = tonumber(since), ['until'] = tonumber(until_), time_field = time_field}
end
