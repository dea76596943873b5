-- wrk script used by bench/load.py.
--   WRK_METHOD, WRK_AUTHORIZATION: request method and Authorization header (optional);
--   WRK_BODIES: JSON bodies separated by "|", sent in turn (optional).
-- done() prints one JSON line prefixed with WRKJSON; latencies in microseconds. Responses
-- other than 2xx/3xx are counted by wrk as errors.status.
local method = os.getenv("WRK_METHOD")
local auth = os.getenv("WRK_AUTHORIZATION")
local bodies = {}
for body in string.gmatch(os.getenv("WRK_BODIES") or "", "[^|]+") do
  bodies[#bodies + 1] = body
end
if method then wrk.method = method end
if auth and auth ~= "" then wrk.headers["authorization"] = auth end

if #bodies > 0 then
  wrk.headers["content-type"] = "application/json"
  local requests = {}
  for i, body in ipairs(bodies) do
    requests[i] = wrk.format(nil, nil, nil, body)
  end
  local n = 0
  request = function()
    n = n % #requests + 1
    return requests[n]
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,'
      .. '"write":%d,"status":%d,"timeout":%d},"latency_us":{"mean":%.1f,'
      .. '"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
