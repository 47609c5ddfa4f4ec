-- wrk: POSTs $BENCH_BODY to $BENCH_PATH with $BENCH_AUTH, a new Idempotency-Key each time
-- (prefixed with $BENCH_KEYS, unique to the run) when $BENCH_KEYS is set, and prints the same
-- RESULT line as events.lua.
local n = 0
local path, body = os.getenv("BENCH_PATH"), os.getenv("BENCH_BODY")
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_AUTH"),
}
local prefix = os.getenv("BENCH_KEYS")

function request()
  n = n + 1
  if prefix then headers["Idempotency-Key"] = prefix .. "-" .. n end
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format("RESULT %d %.0f %.2f %.2f %d %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
