-- wrk script: prints one JSON line with latency percentiles (microseconds) and counts at the end.
-- Host header and path come from the environment (WRK_HOST), so the same script serves both targets.
local host = os.getenv("WRK_HOST")
if host and host ~= "" then wrk.headers["Host"] = host end

done = function(summary, latency, requests)
  local p = {}
  for _, q in ipairs({50, 75, 90, 99, 99.9}) do
    p[#p + 1] = string.format('"%s":%d', tostring(q), latency:percentile(q))
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"rps":%.1f,"mean_us":%.1f,"max_us":%d,"pct_us":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6), latency.mean, latency.max,
    table.concat(p, ","), e.connect, e.read, e.write, e.status, e.timeout))
end
