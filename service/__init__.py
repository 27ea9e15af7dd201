"""The HTTP job service: API, security, submission, SQLite job store, worker, job runs, client."""
