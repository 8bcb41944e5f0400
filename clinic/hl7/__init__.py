"""The HL7 v2 patient feed: ADT messages over MLLP from the hospital's interface engine."""
