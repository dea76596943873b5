"""The HTTP adapter: a Litestar application over the domain services."""
