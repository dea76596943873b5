"""Users and authentication."""
