-- wrk: log the benchmark user in with its password (an Argon2 verification per request).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_LOGIN_BODY")
