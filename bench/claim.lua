-- wrk script for bench/api.py: POST /supersim/v1/Sims claims, one unclaimed Iccid/RegistrationCode pair
-- per request, read from the file given after `--` (lines "iccid,code"; then the thread count). Each wrk
-- thread takes every n-th line so no pair is posted twice; the Authorization header comes from wrk's -H.
-- A pair list that runs out wraps around: those repeats answer 409 and are counted as status errors.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")
local report_done = done

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local stride = tonumber(args[2] or "1")
  bodies = {}
  unexpected = {}
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % stride == index then
      local iccid, code = line:match("^([^,]+),([^,]+)$")
      table.insert(bodies, "Iccid=" .. iccid .. "&RegistrationCode=" .. code)
    end
    line_number = line_number + 1
  end
  next_body = 1
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 201 then
    local key = tostring(status)
    unexpected[key] = (unexpected[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  report_done(summary, latency, requests)
  -- Which statuses other than 201 came back, summed over threads (for the run's log).
  local parts = {}
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("unexpected") or {}) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  io.write("WRK_STATUS {" .. table.concat(parts, ", ") .. "}\n")
end
