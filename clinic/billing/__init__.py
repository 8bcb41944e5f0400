"""Checkout and invoices: generated from the steps performed, numbered per year, never edited, only credited."""
