-- wrk script: durable Paymega invoice creations (POST /api/payment-invoices) with unique
-- references per thread. The credentials come from the environment (OBOL_BENCH_AUTH: base64 of
-- api_login:api_secret), set by scripts/bench-invoices.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. os.getenv("OBOL_BENCH_AUTH")
local threads = 0
-- A run-unique prefix, so that a second run against the same server creates, not repeats.
local run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000))
function setup(thread)
  thread:set("id", run .. "-" .. threads)
  threads = threads + 1
end
counter = 0
request = function()
  counter = counter + 1
  local body = '{"data":{"attributes":{"reference_id":"bench-' .. id .. '-' .. counter ..
    '","amount":100,"currency":"USD","service":"payment_card_usd_hpp"}}}'
  return wrk.format(nil, "/api/payment-invoices", nil, body)
end
