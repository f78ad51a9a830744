-- The wrk script of the bench (bench/lib/wrk.ts writes its inputs and reads its last line).
--
--   wrk ... -s bench/wrk-load.lua <url> -- <requests file> <byte lengths, comma-separated> <tag 0|1>
--
-- The requests file holds complete raw HTTP requests back to back (real held-out rows, built by
-- bench/lib/wrk.ts); request() sends them in turn. response() counts every answer by status, so
-- goodput (2xx/s) is exact. With tag = 1 each request carries a unique X-Request-Id (the
-- marker @@VB@@ in the file is replaced); Vigil echoes it, so the latency of each 2xx answer
-- ("admitted" latency) is measured apart from fast rejections. done() prints one line:
--   @@vigil-bench-wrk {json}

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } vb_timespec;
int clock_gettime(int clk_id, vb_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("vb_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local MARKER = "@@VB@@"
local threads = {}
local requests = {}
local prefixes, suffixes = {}, {}
local count, next_index, tagged, seq = 0, 0, false, 0
local sent = {}

-- Read back by done() through thread:get().
statuses = {}
admitted = {}
unmatched = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  for len in string.gmatch(args[2], "%d+") do
    local n = tonumber(len)
    requests[#requests + 1] = data:sub(pos, pos + n - 1)
    pos = pos + n
  end
  count = #requests
  tagged = args[3] == "1"
  if tagged then
    for i, r in ipairs(requests) do
      local at = assert(r:find(MARKER, 1, true), "tagged request without the marker")
      prefixes[i] = r:sub(1, at - 1)
      suffixes[i] = r:sub(at + #MARKER)
    end
  end
end

function request()
  next_index = next_index % count + 1
  if not tagged then
    return requests[next_index]
  end
  seq = seq + 1
  local id = "vb" .. seq
  sent[id] = now_us()
  return prefixes[next_index] .. id .. suffixes[next_index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if not tagged then
    return
  end
  local id = headers["x-request-id"] or headers["X-Request-Id"]
  local t0 = id and sent[id]
  if not t0 then
    unmatched = unmatched + 1
    return
  end
  sent[id] = nil
  if status >= 200 and status < 300 then
    admitted[#admitted + 1] = now_us() - t0
  end
end

local function percentile(sorted, p)
  if #sorted == 0 then
    return -1
  end
  local rank = math.ceil(p / 100 * #sorted)
  if rank < 1 then
    rank = 1
  end
  return sorted[rank]
end

function done(summary, latency, _)
  local all_statuses, all_admitted, all_unmatched = {}, {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      all_statuses[k] = (all_statuses[k] or 0) + v
    end
    for _, v in ipairs(t:get("admitted")) do
      all_admitted[#all_admitted + 1] = v
    end
    all_unmatched = all_unmatched + t:get("unmatched")
  end
  table.sort(all_admitted)
  local status_parts = {}
  for k, v in pairs(all_statuses) do
    status_parts[#status_parts + 1] = string.format('"%d":%d', k, v)
  end
  local sum = 0
  for _, v in ipairs(all_admitted) do
    sum = sum + v
  end
  local e = summary.errors
  io.write("@@vigil-bench-wrk ", string.format(
    '{"durationUs":%d,"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"mean":%.1f,"max":%.1f},' ..
    '"statuses":{%s},"unmatched":%d,' ..
    '"admittedUs":{"count":%d,"p50":%.1f,"p90":%.1f,"p99":%.1f,"p999":%.1f,"mean":%.1f,"max":%.1f}}\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max,
    table.concat(status_parts, ","), all_unmatched,
    #all_admitted, percentile(all_admitted, 50), percentile(all_admitted, 90), percentile(all_admitted, 99),
    percentile(all_admitted, 99.9), #all_admitted > 0 and sum / #all_admitted or -1,
    #all_admitted > 0 and all_admitted[#all_admitted] or -1))
end
