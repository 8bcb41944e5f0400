"""The unit itself: resources, opening hours and pathways."""
