-- wrk: GET of a path drawn at random, per request, from a file of paths
-- (one per line: "/Patient/bench-000042", "/Patient?identifier=...").
--
--   wrk ... -s bench/rest/get_random.lua http://127.0.0.1:PORT -- PATHS_FILE
--
-- bench/run_rest uses it for read-by-id and the token search on hearth, and
-- for the same reads on noop_server, so both servers get identical traffic.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local requests = {}  -- this thread's: the paths, formatted once
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  local file = assert(io.open(args[1] or "", "r"), "get_random.lua: give a file of paths after --")
  for line in file:lines() do
    if line ~= "" then requests[#requests + 1] = wrk.format("GET", line) end
  end
  file:close()
  assert(#requests > 0, "get_random.lua: the paths file is empty")
  -- A different sequence per thread (thread_number is set by setup).
  math.randomseed(os.time() * 100 + (thread_number or 0))
end

function request()
  return requests[math.random(#requests)]
end

done = report.done
