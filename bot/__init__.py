"""The engine (`engine.py`, over the answer path in `answering.py`) and its front ends: the `verbatim`
command line, the terminal chat and the Telegram bot, which parse input and render output."""
