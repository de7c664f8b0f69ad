"""Durable background jobs: work that outlives the request and survives a crash.

Jobs live in PostgreSQL, in PGQueuer's tables (created by the Alembic migrations). A job that
belongs to a database change is enqueued on the connection of the request's transaction
(`queue.PostgresQueue`): when the transaction rolls back there is no job, when it commits the job
exists. The worker process (`python -m <package>.job_worker`) runs them: it acknowledges a job
only once it completed, retries failures with exponential backoff and keeps the ones that keep
failing for inspection. docs/jobs.md has the whole picture and why PGQueuer.
"""
