"""Messages to and from patients: outreach planning, the outbox, inbound SMS and calls, e-mail answer pages."""
