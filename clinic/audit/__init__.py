"""The audit trail: recording who changed what, the log and its screen."""
