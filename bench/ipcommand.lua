-- wrk script for bench/commands.py: POST IP Commands (form bodies Sim/Payload/DevicePort) to the URL given,
-- for the SIM given after `--` (args: sim, device port). The Authorization header comes from wrk's -H.
-- Counts statuses other than 201 (reported on a WRK_STATUS line) so a run of 4xx is never taken for throughput.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")
local report_done = done

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  body = "Sim=" .. args[1] .. "&Payload=bench&DevicePort=" .. (args[2] or "6001")
  unexpected = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
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
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("unexpected") or {}) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(totals) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  io.write("WRK_STATUS {" .. table.concat(parts, ", ") .. "}\n")
end
