"""Keeping Secret values out of everything the operator writes or emits.

A dependency address may come from a Secret (``secretRef``). Whatever text a check produces
(an exception message, our own "GET <url> answered 503") goes to the policy's status, the pod
readiness-gate condition, Events, logs and span status: places readable by far more people than
the Secret. So every error text of a Secret-sourced check passes through ``Redactor.clean``:

1. every sensitive fragment of the value (the whole value, its URL-decoded and escaped
   spellings, the password, the user info, the host) is replaced by ``secret NAME/KEY``;
2. then, as a net for spellings we did not think of (a library that lower-cases a host,
   re-quotes a URL, cuts it short), if any 8-character run of a fragment is still in the
   text (case-insensitively), the details are withheld altogether.

Redaction runs before truncation: cutting first could leave half a secret no match can find.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

# A Secret is read for a check only if it opts in: this label, and optionally an annotation
# naming the keys that may be read (a comma-separated list). Setting a label on a Secret takes
# the right to patch it (and a patch answers with the whole object, data included), so a
# policy author who may not read a Secret cannot make the operator read it for them.
OPT_IN_LABEL = "orderflow.dev/health-check"
KEYS_ANNOTATION = "orderflow.dev/health-check-keys"

# Shorter fragments are not searched for by the fuzzy net (they would match ordinary words);
# passwords are always replaced exactly, whatever their length.
WINDOW = 8
MIN_COMPONENT = 4


def _spellings(text: str) -> set[str]:
    """The ways a library may print the same string."""
    return {
        text,
        text.strip(),
        unquote(text),
        quote(text, safe=""),
        quote(text, safe=":/@"),
        repr(text)[1:-1],
    }


def fragments(value: str) -> list[str]:
    """Sensitive substrings of a Secret value, longest first (so the longest is replaced first)."""
    found: set[str] = set(_spellings(value))
    always: set[str] = set()
    if "://" in value:
        netloc = hostname = password = username = None
        try:
            parts = urlsplit(value.strip())
            netloc, hostname = parts.netloc, parts.hostname
            password, username = parts.password, parts.username
        except ValueError:  # a malformed URL: the whole value is still redacted
            pass
        if password:
            always |= _spellings(password)
        userinfo = netloc.rpartition("@")[0] if netloc and "@" in netloc else ""
        for part in (userinfo, username, hostname, netloc):
            if part and len(part) >= MIN_COMPONENT:
                found |= _spellings(part)
    else:
        # host:port (or anything else): the host part is the Secret's content too.
        host = value.strip().rpartition(":")[0].strip("[]")
        if len(host) >= MIN_COMPONENT:
            found |= _spellings(host)
    found |= always
    return sorted((f for f in found if f and (f in always or len(f) >= MIN_COMPONENT)), key=len)[
        ::-1
    ]


@dataclass(frozen=True)
class Redactor:
    """Cleans texts of one Secret value; ``label`` is what replaces it (``secret NAME/KEY``)."""

    value: str
    label: str

    def clean(self, text: str) -> str:
        if not self.value:
            return text
        frags = fragments(self.value)
        for fragment in frags:
            text = text.replace(fragment, self.label)
        lowered = text.lower()
        for fragment in frags:
            low = fragment.lower()
            for start in range(max(0, len(low) - WINDOW) + 1):
                window = low[start : start + WINDOW]
                if len(window) == WINDOW and window in lowered:
                    return f"check failed (details withheld: they would show {self.label})"
        return text


NO_REDACTION = Redactor("", "")


class SecretNotOptedIn(PermissionError):
    """A policy names a Secret (or a key) that is not open to health checks."""


def opted_in(secret: dict[str, Any]) -> bool:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(OPT_IN_LABEL) == "true")


def readable_keys(secret: dict[str, Any]) -> set[str]:
    """The keys the operator may read from this Secret (empty: none)."""
    if not opted_in(secret):
        return set()
    keys = set((secret.get("data") or {}).keys())
    listed = ((secret.get("metadata") or {}).get("annotations") or {}).get(KEYS_ANNOTATION)
    if listed is None:
        return keys
    return keys & {k.strip() for k in str(listed).split(",") if k.strip()}
