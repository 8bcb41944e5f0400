"""The worker process: the outreach dispatcher and the scheduled jobs, on APScheduler."""
