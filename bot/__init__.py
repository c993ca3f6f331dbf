"""Front ends: the `verbatim` command line, the terminal chat and the Telegram bot."""
