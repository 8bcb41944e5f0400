"""Booking a visit: the engine's proposals for a patient and a pathway, and committing one under the day's lock."""
