-- Shared by the bench/rest wrk scripts: the line bench/run_rest reads.
-- done() runs once, after the run, in wrk's main Lua state; it prints one
-- JSON object on a line of its own with the counts and latencies (wrk's
-- latency figures are in microseconds).
local report = {}

function report.done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    '{"bench_rest":1,"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end

return report
