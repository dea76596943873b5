"""Peer servers measured next to orderflow: what a Python user would write instead (FastAPI)
and the physical ceiling (asyncpg over a bare ASGI callable)."""
