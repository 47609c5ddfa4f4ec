-- wrk: POSTs the pre-signed events of $BENCH_EVENTS to $BENCH_PATH in turn, each once, and
-- prints one RESULT line (result.lua).
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

-- The RESULT line, written by the `done` of result.lua beside this file.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "result.lua")
