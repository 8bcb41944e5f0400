"""A visit's day: the visit page, check-in, steps, the day board and re-planning a running day."""
