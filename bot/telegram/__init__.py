"""The Telegram front end: `build_application` wires handlers to an engine; `serve` runs it."""
