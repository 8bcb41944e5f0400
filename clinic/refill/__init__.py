"""Cancelled places refilled: the waitlist, ranked offers, and the first acceptance booking the place."""
