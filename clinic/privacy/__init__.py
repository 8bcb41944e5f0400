"""Patients' rights under the GDPR: export (art. 15), erasure (art. 17) and the access log."""
