"""Segment-based outreach: rules as data, channels (Twilio SMS/voice, e-mail, development outbox) and jobs.

Built by the outreach issue on top of the clinic foundation; nothing here is wired into the app yet.
"""
