"""The decisions, as pure functions over plain data: candidate features, ranking, the reader's stage,
answer-or-refuse, and composing verbatim quotes. No I/O; the fitted weights are read from
`weights.json`."""
