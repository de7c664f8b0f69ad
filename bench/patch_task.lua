-- wrk: complete a task per request, each request a task not completed yet.
-- The user's open tasks have the ids BENCH_FIRST_TASK to BENCH_FIRST_TASK + BENCH_TASK_COUNT - 1;
-- thread n of BENCH_THREADS takes every BENCH_THREADS-th of them, from the n-th on. The bearer
-- token comes from wrk's -H option.
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"status": "done"}'

local threads = 0

function setup(thread)
   thread:set("offset", threads)
   threads = threads + 1
end

function init(args)
   first = tonumber(os.getenv("BENCH_FIRST_TASK"))
   count = tonumber(os.getenv("BENCH_TASK_COUNT"))
   stride = tonumber(os.getenv("BENCH_THREADS"))
   sent = 0
end

function request()
   local n = (offset + stride * sent) % count
   sent = sent + 1
   return wrk.format(nil, "/api/v1/tasks/" .. (first + n))
end
