"""What the product says, in one place for every front end; each medium (plain text for the terminal,
HTML for Telegram) only formats it."""

from __future__ import annotations

from verbatim.retrieval.models import Citation

UNTITLED = "Untitled"
NO_ANSWER = "I couldn't find an answer to that in the articles of this chat."
NO_ANSWER_HINT = "Add an article that covers it (send a link or paste its text), or ask another way."
LEAD = "The closest passage, which may not answer it:"
EMPTY_COLLECTION = "There are no articles here yet."
EMPTY_HINT = "Add one first: send a link, paste the text, or upload a .txt/.md/.html file."
EMPTY_QUESTION = "Ask a question in words, e.g. “why was the delegation cancelled?”"
WHICH_ONE = "Which one? /delete N, with N from /list."


def title_of(title: str | None) -> str:
    return title or UNTITLED


def position(citation: Citation) -> str:
    """`sentence 3 of 12` or `sentences 3–4 of 12`."""
    n = len(citation.sentence_ids) or 1
    first = citation.ordinal + 1
    where = f"sentence {first}" if n == 1 else f"sentences {first}–{first + n - 1}"
    return f"{where} of {citation.sentence_count}" if citation.sentence_count else where


def added(title: str, sentences: int, *, created: bool) -> str:
    """`title` as the medium shows it (escaped, shortened)."""
    return f"Added “{title}” ({sentences} sentences)." if created else f"Already there: “{title}”."


def deleted(title: str) -> str:
    return f"Deleted “{title}”."
