-- wrk: create a task per request (the bearer token comes from wrk's -H option).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_TASK_BODY")
