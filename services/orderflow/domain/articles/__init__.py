"""Articles and favorites."""
