"""The demo clinic: seed files, the generator of patients and visits, and twelve weeks of history."""
