"""The key business requirements: definitions, weekly figures per segment, charts and the dashboard."""
