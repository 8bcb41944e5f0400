"""The two questions after every interaction, and the follow-ups a "no" opens."""
