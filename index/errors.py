"""Errors a user may see. Each carries a short message and, where one helps, a suggestion."""

from __future__ import annotations


class VerbatimError(Exception):
    """An expected failure whose message is safe and useful to show to a user."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class InputError(VerbatimError):
    """The text, file or line given cannot become an article (empty, binary, too large...)."""


class FetchError(VerbatimError):
    """A URL could not be fetched or holds no article; nothing was stored."""


class ModelMismatchError(VerbatimError):
    """The data directory was indexed with another embedding model."""


class NotFoundError(VerbatimError):
    """An article id or list number that the collection does not hold."""


class StorageError(VerbatimError):
    """The data directory cannot be used as asked: not a directory, read-only, damaged, or full."""


class CollectionFullError(VerbatimError):
    """Adding would take a collection past VERBATIM_MAX_COLLECTION_SENTENCES; nothing more is added."""


class DuplicateIdError(InputError):
    """An article id (a JSONL `id`) that the collection already gives to an article with another text."""
