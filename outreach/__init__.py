"""Segment-based outreach as a pure library: rules as data, planning, quiet hours, time zones, SMS
keywords and the channels (Twilio SMS and voice, SMTP e-mail, the development outbox).

It imports nothing of ``clinic``: the app's messaging package stores what it plans and its worker runs
the jobs that send it.
"""
