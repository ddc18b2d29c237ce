"""The one error type the catalog raises: every catalog failure is a :class:`CatalogError`.

The more specific kinds (a bad label table, a bad pack, the concept model) subclass it, so a
caller that only wants "the catalog said no" catches one type; the message says what and where.
"""

from __future__ import annotations


class CatalogError(ValueError):
    """A bad block, feature id, category, confidence, label table, pack or concept model."""
