"""The FHIR R4 API under ``/fhir``: API clients and their tokens, scopes, resource mapping and the views."""
