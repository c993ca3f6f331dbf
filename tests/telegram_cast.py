"""The people and the group of the Telegram tests, the same in every test module that plays a chat."""

from __future__ import annotations

USER = 42
OTHER = 43
ADMIN = 7
ANON_ADMIN = 8
GROUP = -1001234567890
