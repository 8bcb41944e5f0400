"""The unit's service around a visit: volunteers, transport, recovery gestures and touch-points."""
