"""Catalog and inventory: products, stock levels, reservations."""
