-- wrk script: POST /api/v1/tasks/addition/execute with a JSON input (synchronous execute).
wrk.method = "POST"
wrk.body = '{"input": {"num1": 20, "num2": 22}}'
wrk.headers["Content-Type"] = "application/json"

-- Count answers that are not 200 so a broken run is not read as a fast one.
local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  if bad > 0 then io.write(string.format("non-200 answers: %d\n", bad)) end
end
