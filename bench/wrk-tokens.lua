-- wrk script for the token hot path: every request picks a random line of
-- TB_REQUESTS_FILE ("<path>\t<Authorization header>"), so the load spreads over
-- many client ids and service keys. done() prints one JSON line for bench/run.js.
local requests = {}
local count = 0

function init(args)
  -- wrk.init has set the Host header by now; wrk.format needs it.
  local file = os.getenv("TB_REQUESTS_FILE")
  for line in io.lines(file) do
    local path, auth = line:match("^([^\t]+)\t(.+)$")
    if path then
      count = count + 1
      requests[count] = wrk.format("GET", path, { ["Authorization"] = auth })
    end
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  return requests[math.random(count)]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'TBJSON {"requests":%d,"durationUs":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
