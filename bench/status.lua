-- wrk script for bench/auth.py: report.lua's line, plus which statuses other than 200 came back (WRK_STATUS).
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")
local report_done = done
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  unexpected = {}
end

function response(status, headers, body)
  if status ~= 200 then
    local key = tostring(status)
    unexpected[key] = (unexpected[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  report_done(summary, latency, requests)
  local totals, parts = {}, {}
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
