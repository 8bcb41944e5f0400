"""Patients: registration, search, segments and the patient page."""
