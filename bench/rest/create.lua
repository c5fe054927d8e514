-- wrk: POST [base]/Patient (R4 create) with a fixed body from a file; every
-- request creates a new Patient (the server assigns the id).
--
--   wrk ... -s bench/rest/create.lua http://127.0.0.1:PORT -- BODY_FILE
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local report = dofile(here .. "report.lua")

local create

function init(args)
  local file = assert(io.open(args[1] or "", "rb"), "create.lua: give the body file after --")
  local body = file:read("*a")
  file:close()
  assert(#body > 0, "create.lua: the body file is empty")
  -- With the headers given by wrk -H (bench/run_rest: the bearer token),
  -- which wrk.format leaves out when it is given headers of its own.
  local headers = { ["Content-Type"] = "application/fhir+json" }
  for name, value in pairs(wrk.headers) do
    if headers[name] == nil then headers[name] = value end
  end
  create = wrk.format("POST", "/Patient", headers, body)
end

function request()
  return create
end

done = report.done
