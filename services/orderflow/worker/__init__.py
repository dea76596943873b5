"""The Dramatiq worker: actors over the domain, and the outbox relay that feeds them."""
