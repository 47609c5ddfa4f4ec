-- wrk: POSTs the pre-signed events of $BENCH_EVENTS to $BENCH_PATH in turn, each once, and
-- prints one RESULT line: requests, req/s, p50 ms, p99 ms, non-2xx answers, socket errors.
local requests = {}
local next_one = 0

function init(args)
  local path = os.getenv("BENCH_PATH")
  for line in io.lines(os.getenv("BENCH_EVENTS")) do
    local signature, body = line:match("^([^\t]+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["SknPay-Signature"] = signature,
    }, body)
  end
end

function request()
  next_one = next_one % #requests + 1
  return requests[next_one]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format("RESULT %d %.0f %.2f %.2f %d %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
