-- wrk's end of run for every script here: one RESULT line of requests, req/s, p50 ms, p99 ms,
-- non-2xx answers and socket errors, which bench/ingest.sh reads.
function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format("RESULT %d %.0f %.2f %.2f %d %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
