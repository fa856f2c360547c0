-- wrk script: P2P `payments/show` of one transfer (POST /api/p2p/payments/show), the read
-- path of the P2P dialect: the envelope, the session and client look-up, the transfer and its
-- operations. The session and the transfer come from the environment (OBOL_BENCH_SESSION,
-- OBOL_BENCH_TRANSFER), set by scripts/bench-p2p-show.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"params":{"sessionId":"' .. os.getenv("OBOL_BENCH_SESSION") ..
  '","id":"' .. os.getenv("OBOL_BENCH_TRANSFER") .. '"},"data":{}}'
wrk.path = "/api/p2p/payments/show"
