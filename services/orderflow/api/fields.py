"""Declared shapes of what clients send: every limit here is a column's limit.

Validating at the edge keeps impossible values (a string longer than its column, an integer
past the column's type, a NUL character PostgreSQL cannot store) out of the database, answers
them with 400 naming the field, and publishes each limit in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter
from msgspec import Meta

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# PostgreSQL text cannot hold U+0000; anchored because msgspec searches rather than matches.
NO_NUL = "^[^\\x00]*$"

# Column lengths (db/models.py).
EMAIL_MAX = 254
USERNAME_MAX = 64
ITEM_ID_MAX = 64
CUSTOMER_ID_MAX = 64
SLUG_MAX = 200
TITLE_MAX = 200
DESCRIPTION_MAX = 500
BODY_MAX = 100_000
# Not stored (only its hash is), but hashing is costly: far above the 256 the rules allow.
PASSWORD_MAX = 4096

Email = Annotated[str, Meta(max_length=EMAIL_MAX, pattern=NO_NUL)]
Username = Annotated[str, Meta(max_length=USERNAME_MAX, pattern=NO_NUL)]
Password = Annotated[str, Meta(max_length=PASSWORD_MAX)]
ItemId = Annotated[str, Meta(max_length=ITEM_ID_MAX, pattern=NO_NUL)]
CustomerId = Annotated[str, Meta(max_length=CUSTOMER_ID_MAX, pattern=NO_NUL)]
Title = Annotated[str, Meta(max_length=TITLE_MAX, pattern=NO_NUL)]
Description = Annotated[str, Meta(max_length=DESCRIPTION_MAX, pattern=NO_NUL)]
Body = Annotated[str, Meta(max_length=BODY_MAX, pattern=NO_NUL)]
# quantity is an `integer` column, prices `bigint`. The lower bounds are business rules (422),
# checked by the domain; only the type's own range is declared here.
Units = Annotated[int, Meta(ge=-INT32_MAX, le=INT32_MAX)]
PriceCents = Annotated[int, Meta(ge=-INT64_MAX, le=INT64_MAX)]

# Path and query parameters.
ItemIdPath = Annotated[str, Parameter(max_length=ITEM_ID_MAX, pattern=NO_NUL)]
SlugPath = Annotated[str, Parameter(max_length=SLUG_MAX, pattern=NO_NUL)]
UsernameQuery = Annotated[str | None, Parameter(max_length=USERNAME_MAX, pattern=NO_NUL)]
Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=INT64_MAX)]
