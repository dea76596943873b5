"""Who may do what beyond their own things."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    """Everyone who registers: their own articles and orders; may cancel their own orders."""
    STAFF = "staff"
    """Fulfilment: moves any order to shipped or delivered. Granted only from the command line
    (``orderflow staff grant EMAIL``), never through the API."""
