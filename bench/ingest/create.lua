-- wrk: POSTs $BENCH_BODY to $BENCH_PATH with $BENCH_AUTH, a new Idempotency-Key each time
-- (prefixed with $BENCH_KEYS, unique to the run) when $BENCH_KEYS is set, and prints the
-- RESULT line of result.lua.
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

-- The RESULT line, written by the `done` of result.lua beside this file.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
