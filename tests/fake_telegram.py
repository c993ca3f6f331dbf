"""A strict, in-process fake of the Telegram Bot API for tests.

The real python-telegram-bot ``Bot``/``Application`` talks HTTP to this server on 127.0.0.1, so the
whole request/response path (encoding, parsing, errors, long polling) is exercised.

Typical use (no pytest-asyncio needed: run the async part with ``asyncio.run``)::

    from tests.fake_telegram import FakeTelegram, fake_telegram  # noqa: F401  (the fixture)

    def test_start(fake_telegram: FakeTelegram) -> None:
        fake_telegram.add_user(42, "Ada")          # also creates the private chat 42

        async def scenario() -> None:
            app = (ApplicationBuilder().token(fake_telegram.token)
                   .base_url(fake_telegram.base_url).base_file_url(fake_telegram.base_file_url).build())
            app.add_handler(CommandHandler("start", start))
            async with app:                          # initialize() -> getMe
                await app.start()
                await app.updater.start_polling(poll_interval=0, timeout=1)
                try:
                    fake_telegram.user_says(42, 42, "/start")
                    [reply] = await fake_telegram.async_wait_for_bot_messages(42)
                    assert reply.text == "..."
                finally:
                    await app.updater.stop()
                    await app.stop()

        asyncio.run(scenario())

Every 4xx (and any internal 500) the server returns is recorded in ``server.errors``; the pytest
fixture fails the test at teardown for any error the test did not acknowledge with
``server.expect_error("message is too long")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.parser
import email.policy
import http.server
import json
import re
import select
import socket
import threading
import time
import traceback
import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

__all__ = [
    "DEFAULT_TOKEN",
    "GROUP_ANONYMOUS_BOT_ID",
    "ApiError",
    "BotMessage",
    "CallRecord",
    "ErrorRecord",
    "FakeTelegram",
    "FakeTelegramTimeout",
    "HtmlParseError",
    "UnexpectedTelegramErrors",
    "fake_telegram",
    "fake_telegram_session",
    "parse_html",
    "utf16_len",
]

DEFAULT_TOKEN = "123456789:AAFakeVerbatimTokenForTests_0123456"
GROUP_ANONYMOUS_BOT_ID = 1087968824
GROUP_ANONYMOUS_BOT: dict[str, Any] = {
    "id": GROUP_ANONYMOUS_BOT_ID,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_INLINE_RESULTS = 50
MAX_INLINE_RESULT_ID_BYTES = 64
MAX_INLINE_QUERY_LENGTH = 256
_INLINE_RESULT_TYPES = frozenset(
    {
        "article",
        "photo",
        "gif",
        "mpeg4_gif",
        "video",
        "audio",
        "voice",
        "document",
        "location",
        "venue",
        "contact",
        "game",
        "sticker",
    }
)
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{35}$")
_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE_CODE_RE = re.compile(r"^([a-z]{2})?$")
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
# Parameters that are always plain strings; every other form value is JSON-decoded when possible
# (python-telegram-bot JSON-encodes every non-string value in form/multipart bodies).
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "action",
        "callback_query_id",
        "url",
        "file_id",
        "language_code",
        "inline_message_id",
        "secret_token",
        "ip_address",
        "description",
        "short_description",
        "name",
        "title",
        "custom_title",
        "business_connection_id",
        "message_effect_id",
        "emoji",
        "document",
        "photo",
        "audio",
        "voice",
        "video",
        "thumbnail",
        "certificate",
    }
)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram uses for lengths and offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_slice(text: str, offset: int, length: int) -> str:
    raw = text.encode("utf-16-le", "surrogatepass")
    return raw[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------------------------------
# Errors and records
# --------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer of the Bot API (``{"ok": false, ...}``)."""

    def __init__(
        self, code: int, description: str, *, record: bool = True, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.record = record
        self.parameters = parameters  # ResponseParameters: migrate_to_chat_id, retry_after


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class HtmlParseError(ValueError):
    """Raised by :func:`parse_html` with Telegram's wording (without the ``can't parse entities`` prefix)."""


class FakeTelegramTimeout(AssertionError):
    """A ``wait_for_*`` helper ran out of time."""


class UnexpectedTelegramErrors(AssertionError):
    """The bot received error answers the test did not acknowledge with ``expect_error``."""


@dataclass
class ErrorRecord:
    """One error answer the fake returned."""

    method: str
    params: dict[str, Any]
    description: str
    status: int
    time: float = field(default_factory=time.time)

    def __str__(self) -> str:
        shown = {k: (v if len(repr(v)) < 200 else repr(v)[:200] + "...") for k, v in self.params.items()}
        return f"{self.method} -> {self.status} {self.description!r} params={shown}"


@dataclass
class CallRecord:
    """One API call (successful or not) the fake received."""

    method: str
    params: dict[str, Any]
    ok: bool
    description: str | None = None
    time: float = field(default_factory=time.time)


@dataclass
class _Expectation:
    pattern: str
    method: str | None
    matched: int = 0

    def matches(self, err: ErrorRecord) -> bool:
        if self.method is not None and self.method.lower() != err.method.lower():
            return False
        return self.pattern.lower() in err.description.lower()


@dataclass
class BotMessage:
    """A message the bot sent, as the fake stores it (a snapshot when returned by a helper)."""

    chat_id: int
    message_id: int
    method: str
    text: str | None
    """Visible text after entity parsing and trimming (the caption for media messages)."""
    raw_text: str | None
    """The text/caption exactly as the bot sent it (e.g. with HTML tags)."""
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    reply_to: int | None
    thread_id: int | None
    link_preview_options: dict[str, Any] | None
    disable_notification: bool
    protect_content: bool
    message: dict[str, Any]
    """The Telegram-shaped message dict as currently stored."""
    document: dict[str, Any] | None = None
    document_bytes: bytes | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    """Previous states (text, raw_text, parse_mode, entities, reply_markup), oldest first."""
    deleted: bool = False

    @property
    def edited(self) -> bool:
        return bool(self.edits)

    def entity_texts(self, entity_type: str | None = None) -> list[str]:
        """The visible text covered by each entity (optionally only entities of one type)."""
        if self.text is None:
            return []
        return [
            _utf16_slice(self.text, e["offset"], e["length"])
            for e in self.entities
            if entity_type is None or e["type"] == entity_type
        ]

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """All inline keyboard buttons, row by row."""
        if not self.reply_markup or "inline_keyboard" not in self.reply_markup:
            return []
        return [button for row in self.reply_markup["inline_keyboard"] for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]


@dataclass
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False
    topics: set[int] | None = None
    members: dict[int, str] = field(default_factory=dict)
    admin_info: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_message_id: int = 1
    blocked: bool = False
    migrated_to: int | None = None  # a group upgraded to this supergroup: the old id answers 400

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.first_name or ""
            if self.last_name:
                data["last_name"] = self.last_name
        else:
            data["title"] = self.title or ""
        if self.username:
            data["username"] = self.username
        if self.type == "supergroup" and self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None
    mime_type: str | None


@dataclass
class _Upload:
    filename: str
    content_type: str | None
    data: bytes


class _PollTerminated(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# HTML parsing (a port of the semantics of tdlib's parse_html, which the Bot API uses)
# --------------------------------------------------------------------------------------------------

_HTML_SPACE = frozenset(b" \t\r\n\v\0")
_ASCII_ALPHA = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_DIGIT = frozenset(b"0123456789")
_ASCII_HEX = frozenset(b"0123456789abcdefABCDEF")
_ASCII_ALNUM = _ASCII_ALPHA | _ASCII_DIGIT
_SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_NAMED_ENTITIES = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}
_SIMPLE_TAG_TYPES = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_ENTITY_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}


def _decode_html_entity(b: bytes, pos: int) -> tuple[int, int, bool]:
    """Decode the character reference at ``b[pos] == '&'``.

    Returns ``(code_point, end_position, terminated_by_semicolon)``; code point 0 when it is no
    supported entity (tdlib then keeps the ``&`` literally).
    """
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == 0x23:  # '#'
        end += 1
        if at(pos + 2) == 0x78:  # 'x'
            end += 1
            while at(end) in _ASCII_HEX:
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while at(end) in _ASCII_DIGIT:
                code = code * 10 + at(end) - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos, False
    else:
        while at(end) in _ASCII_ALPHA:
            end += 1
        code = _NAMED_ENTITIES.get(b[pos + 1 : end], 0)
        if not code:
            return 0, pos, False
    if at(end) == 0x3B:  # ';'
        return code, end + 1, True
    return code, end, False


def _append_code_point(out: bytearray, code: int) -> None:
    out += chr(code).encode("utf-8", "surrogatepass")


def _strict_entity_error(b: bytes, pos: int) -> HtmlParseError:
    snippet = b[pos : pos + 12].split(b";")[0].split(b" ")[0].decode("utf-8", "replace")
    return HtmlParseError(
        f'Unescaped "&" or unsupported HTML entity "{snippet}" at byte offset {pos} (fake Telegram strict '
        "mode: only &lt; &gt; &amp; &quot; and &#NN; / &#xNN; with a trailing ';' are allowed)"
    )


def _normalize_url(url: str) -> str | None:
    """Roughly tdlib's check_url: http(s)/tg/ton URLs, bare domains get ``http://``; else invalid."""
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    scheme_match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme in ("tg", "ton"):
            return url if len(url) > len(scheme) + 3 else None
        if scheme not in ("http", "https"):
            return None
        rest = url[len(scheme) + 3 :]
    else:
        if "@" in url.split("/")[0]:
            return None
        scheme, rest = "http", url
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1].split(":")[0]
    if not host or "." not in host or host.startswith(".") or host.endswith("."):
        return None
    if not re.fullmatch(r"[\w.-]+", host):
        return None
    if "/" not in rest and "?" not in rest and "#" not in rest:
        rest += "/"
    return f"{scheme}://{rest}"


def parse_html(
    text: str,
    *,
    strict_entities: bool = True,
    resolve_user: Callable[[int], dict[str, Any] | None] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML like the Bot API does; return ``(visible_text, entities)``.

    Offsets/lengths are UTF-16 code units. Errors raise :class:`HtmlParseError` with tdlib's wording
    (byte offsets refer to the UTF-8 encoded input). With ``strict_entities`` (the default) a raw ``&``,
    an unsupported named entity such as ``&nbsp;`` or an entity without ``;`` is an error too; real
    Telegram would silently show those literally, which is practically always an escaping bug.
    """
    try:
        b = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise HtmlParseError("Strings must be encoded in UTF-8") from exc
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    out = bytearray()
    utf16 = 0
    stack: list[tuple[str, str, int, int]] = []  # (tag, argument, utf16 offset, output byte offset)
    entities: list[dict[str, Any]] = []
    i = 0
    while i < n:
        c = b[i]
        if c == 0x26:  # '&'
            code, end, terminated = _decode_html_entity(b, i)
            if code and (terminated or not strict_entities):
                utf16 += 2 if code > 0xFFFF else 1
                _append_code_point(out, code)
                i = end
                continue
            if strict_entities:
                raise _strict_entity_error(b, i)
        if c != 0x3C:  # not '<'
            if c & 0xC0 != 0x80:
                utf16 += 2 if c >= 0xF0 else 1
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != 0x2F:  # start tag
            while at(i) not in _HTML_SPACE and at(i) != 0x3E:
                i += 1
            if at(i) == 0:
                raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
            tag = b[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _SUPPORTED_TAGS:
                raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != 0x3E:
                while at(i) != 0 and at(i) in _HTML_SPACE:
                    i += 1
                if at(i) == 0x3E:
                    break
                attr_begin = i
                while at(i) not in _HTML_SPACE and at(i) not in b"=>/\"'":
                    i += 1
                attr_name = b[attr_begin:i].decode("utf-8", "replace")
                if not attr_name:
                    raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
                while at(i) != 0 and at(i) in _HTML_SPACE:
                    i += 1
                if at(i) != 0x3D:  # no '=': a boolean attribute
                    if at(i) == 0:
                        raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and attr_name == "expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and at(i) in _HTML_SPACE:
                    i += 1
                if at(i) == 0:
                    raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if at(i) not in (0x22, 0x27):  # a name token
                    token_begin = i
                    while at(i) in _ASCII_ALNUM or at(i) in (0x2E, 0x2D):
                        i += 1
                    value = b[token_begin:i].decode("ascii").lower()
                    if at(i) not in _HTML_SPACE and at(i) != 0x3E:
                        raise HtmlParseError(f"Unexpected end of name token at byte offset {token_begin}")
                else:  # a string literal
                    quote = at(i)
                    i += 1
                    raw_value = bytearray()
                    while at(i) != quote and at(i) != 0:
                        if at(i) == 0x26:
                            code, end, terminated = _decode_html_entity(b, i)
                            if code and (terminated or not strict_entities):
                                _append_code_point(raw_value, code)
                                i = end
                                continue
                            if strict_entities:
                                raise _strict_entity_error(b, i)
                        raw_value.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = raw_value.decode("utf-8", "replace")
                if at(i) == 0:
                    raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[9:]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[3:]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
                elif tag == "blockquote" and attr_name == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            stack.append((tag, argument, utf16, len(out)))
        else:  # end tag
            if not stack:
                raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
            while at(i) not in _HTML_SPACE and at(i) != 0x3E:
                i += 1
            end_tag = b[begin + 2 : i].decode("utf-8", "replace").lower()
            while at(i) != 0 and at(i) in _HTML_SPACE:
                i += 1
            if at(i) != 0x3E:
                raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
            tag, argument, offset, out_begin = stack[-1]
            if end_tag and end_tag != tag:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{end_tag}>"'
                )
            length = utf16 - offset
            if length > 0:
                entity = _make_entity(tag, argument, offset, length, bytes(out[out_begin:]), resolve_user)
                if entity is not None:
                    last: dict[str, Any] = entities[-1] if entities else {}
                    same_span = last.get("offset") == offset and last.get("length") == length
                    if tag == "pre" and same_span and last["type"] == "code" and last.get("_language"):
                        last.update(type="pre", language=last.pop("_language"))
                    elif tag == "code" and same_span and last["type"] == "pre" and argument:
                        last["language"] = argument
                    else:
                        entities.append(entity)
            stack.pop()
        i += 1  # skip '>'

    if stack:
        raise HtmlParseError(f"Can't find end tag corresponding to start tag {stack[-1][0]}")
    try:
        visible = out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched "
            "surrogate code units"
        ) from exc
    for entity in entities:
        entity.pop("_language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"], _ENTITY_PRIORITY.get(e["type"], 50)))
    return visible, entities


def _make_entity(
    tag: str,
    argument: str,
    offset: int,
    length: int,
    inner: bytes,
    resolve_user: Callable[[int], dict[str, Any] | None] | None,
) -> dict[str, Any] | None:
    entity: dict[str, Any] = {"offset": offset, "length": length}
    if tag in _SIMPLE_TAG_TYPES:
        entity["type"] = _SIMPLE_TAG_TYPES[tag]
    elif tag == "tg-emoji":
        if not re.fullmatch(r"-?\d{1,19}", argument) or int(argument) == 0:
            raise HtmlParseError("Invalid custom emoji identifier specified")
        entity.update(type="custom_emoji", custom_emoji_id=argument)
    elif tag == "blockquote":
        entity["type"] = "expandable_blockquote" if argument == "1" else "blockquote"
    elif tag == "pre":
        entity["type"] = "pre"
    elif tag == "code":
        entity["type"] = "code"
        if argument:
            entity["_language"] = argument
    elif tag == "a":
        url = argument or inner.decode("utf-8", "replace")
        mention = re.fullmatch(r"tg://user\?id=(\d{1,19})", url, re.IGNORECASE)
        user = resolve_user(int(mention.group(1))) if mention and resolve_user else None
        if user is not None:
            entity.update(type="text_mention", user=user)
        else:
            normalized = _normalize_url(url)
            if normalized is None:
                return None  # Telegram silently drops links with invalid URLs
            entity.update(type="text_link", url=normalized)
    else:  # pragma: no cover - guarded by _SUPPORTED_TAGS
        raise HtmlParseError(f'Unsupported start tag "{tag}"')
    return entity


# --------------------------------------------------------------------------------------------------
# Entity detection in user messages
# --------------------------------------------------------------------------------------------------

_BOT_COMMAND_RE = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")
_MENTION_RE = re.compile(r"(?<!\w)@[A-Za-z0-9_]{2,32}(?!\w)")
_URL_RE = re.compile(r"(?<![\w@/.])https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'](?=$|[\s.,;:!?)\]'])", re.IGNORECASE)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram adds to a user's message: ``bot_command``, ``mention`` and ``url``."""
    found: list[tuple[int, int, str]] = []
    for regex, kind in ((_BOT_COMMAND_RE, "bot_command"), (_MENTION_RE, "mention"), (_URL_RE, "url")):
        for match in regex.finditer(text):
            start, end = match.span()
            if any(start < e and s < end for s, e, _ in found):
                continue
            found.append((start, end, kind))
    found.sort()
    return [
        {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}
        for start, end, kind in found
    ]


# --------------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------------


def _decode_form_value(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class _Params:
    """Decoded parameters of one API call with typed, Telegram-like accessors."""

    def __init__(self, values: dict[str, Any], files: dict[str, _Upload]) -> None:
        self.values = values
        self.files = files
        self.connection: socket.socket | None = None

    def has(self, key: str) -> bool:
        return self.values.get(key) is not None

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        raise _bad(f'field "{key}" must be of type String')

    def integer(self, key: str, default: int | None = None) -> int | None:
        value = self.values.get(key)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise _bad(f'field "{key}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise _bad(f'field "{key}" must be of type Integer')

    def number(self, key: str, default: float | None = None) -> float | None:
        value = self.values.get(key)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad(f'field "{key}" must be of type Number') from None

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.values.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.lower() in ("true", "1", "false", "0", ""):
            return value.lower() in ("true", "1")
        raise _bad(f'field "{key}" must be of type Boolean')

    def json(self, key: str) -> Any:
        value = self.values.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad(f"can't parse {key} JSON object") from None
        return value


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, _Upload]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise _bad("can't parse multipart/form-data request")
    values: dict[str, Any] = {}
    files: dict[str, _Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = _Upload(filename, part.get_content_type(), data)
        else:
            values[name] = _decode_form_value(name, data.decode("utf-8", "replace"))
    return values, files


def _parse_request(query: str, content_type: str, body: bytes) -> _Params:
    values: dict[str, Any] = {
        k: _decode_form_value(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
    }
    files: dict[str, _Upload] = {}
    mime = content_type.split(";")[0].strip().lower()
    if body:
        if mime == "application/json":
            try:
                decoded = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise _bad("can't parse JSON encoded request") from None
            if not isinstance(decoded, dict):
                raise _bad("JSON request must be an object")
            values.update(decoded)
        elif mime == "application/x-www-form-urlencoded":
            try:
                pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise _bad("strings must be encoded in UTF-8") from None
            values.update({k: _decode_form_value(k, v) for k, v in pairs})
        elif mime == "multipart/form-data":
            form_values, files = _parse_multipart(content_type, body)
            values.update(form_values)
        else:
            raise _bad(f"unsupported Content-Type {mime!r}")
    for key, value in values.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _bad(f"strings must be encoded in UTF-8 (field {key!r})") from None
    return _Params(values, files)


def _peer_closed(conn: socket.socket | None, wait: float) -> bool:
    """True when the client of ``conn`` has gone away (EOF readable within ``wait`` seconds)."""
    if conn is None:
        return False
    try:
        readable, _, _ = select.select([conn], [], [], wait)
        if not readable:
            return False
        return conn.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


# --------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.conn_lock = threading.Lock()
        self.connections: dict[threading.Thread, socket.socket] = {}
        self.busy: set[threading.Thread] = set()  # connection threads inside a request

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="fake-telegram-conn",
            daemon=True,
        )
        with self.conn_lock:
            self.connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            pass  # a broken connection must never take anything down
        finally:
            self.shutdown_request(request)
            with self.conn_lock:
                self.connections.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTelegram/1.0"
    timeout = 30  # idle keep-alive connections are dropped after this
    fake: FakeTelegram

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this Nagle + delayed ACK add ~40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        with server.conn_lock:
            server.busy.add(threading.current_thread())
        try:
            self._respond()
        finally:
            with server.conn_lock:
                server.busy.discard(threading.current_thread())

    def _respond(self) -> None:
        try:
            body = self._read_body()
            status, content_type, payload = self.fake._handle_http(
                self.command, self.path, self.headers.get("Content-Type", ""), body, self.connection
            )
        except Exception as exc:  # one bad request must never kill the server
            self.fake._record_internal_error(f"{self.command} {self.path}", exc)
            status, content_type = 500, "application/json"
            payload = json.dumps(
                {"ok": False, "error_code": 500, "description": f"Internal Server Error: {exc!r}"}
            ).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


# --------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------

_API_METHODS = (
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendMessage",
    "sendDocument",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "answerInlineQuery",
    "sendChatAction",
    "getChat",
    "getChatMember",
    "getChatAdministrators",
    "getFile",
    "leaveChat",
    "close",
    "logOut",
)


class FakeTelegram:
    """A fake Bot API server on ``127.0.0.1:<random port>``; see the module docstring.

    Use as a context manager (``with FakeTelegram() as server:``), call :meth:`start`/:meth:`stop`,
    or use the :func:`fake_telegram` fixture / :meth:`fixture` factory. All helpers are thread-safe and
    may be called from test code while a PTB application runs in any thread or event loop.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "VerbatimTestBot",
        first_name: str = "Verbatim",
        bot_id: int | None = None,
        strict_html_entities: bool = True,
        privacy_mode: bool = False,
        inline_mode: bool = False,
    ) -> None:
        if not _TOKEN_RE.match(token):
            raise ValueError(f"not a well-formed bot token: {token!r}")
        self.token = token
        self.bot_id = bot_id if bot_id is not None else int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.strict_html_entities = strict_html_entities
        self.privacy_mode = privacy_mode
        self.inline_mode = inline_mode
        """Inline mode switched on in @BotFather: only then do users' inline queries reach the bot."""

        self._cond = threading.Condition(threading.RLock())
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._port = 0

        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._bot_messages: dict[int, list[BotMessage]] = {}
        self._bot_message_index: dict[tuple[int, int], BotMessage] = {}
        self._wait_cursor: dict[int, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 700_000_001
        self._poll_generation = 0
        self._allowed_updates: list[str] | None = None
        self._webhook: dict[str, Any] | None = None
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._file_counter = 0
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._callback_counter = 0
        self._inline_queries: dict[str, dict[str, Any]] = {}
        self._inline_counter = 0
        self._calls: list[CallRecord] = []
        self._expectations: list[_Expectation] = []
        self.errors: list[ErrorRecord] = []
        """Every error answer (4xx, 500) returned, oldest first."""
        self.undelivered: list[dict[str, Any]] = []
        """User messages not delivered because of privacy mode."""

        self._api: dict[str, tuple[str, Callable[[_Params], Any]]] = {
            name.lower(): (name, getattr(self, f"_api_{name.lower()}")) for name in _API_METHODS
        }

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeTelegram:
        """Bind 127.0.0.1:0 and serve in a background thread."""
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._stopping = False
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="fake-telegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Release long polls, close every connection and join all server threads."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        httpd.shutdown()
        if thread is not None:
            thread.join(timeout)
        httpd.server_close()
        deadline = time.monotonic() + timeout
        # Let requests in flight (e.g. released long polls) answer, then force idle keep-alive
        # connections (blocked reading the next request) closed.
        while time.monotonic() < deadline:
            with httpd.conn_lock:
                if not httpd.busy:
                    break
            time.sleep(0.005)
        while time.monotonic() < deadline:
            with httpd.conn_lock:
                connections = dict(httpd.connections)
            if not connections:
                break
            for conn in connections.values():
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            for conn_thread in connections:
                conn_thread.join(max(0.0, min(0.5, deadline - time.monotonic())))
        with httpd.conn_lock:
            leftover = [t for t in httpd.connections if t.is_alive()]
        self._httpd = None
        self._thread = None
        if leftover:
            warnings.warn(f"FakeTelegram: {len(leftover)} connection thread(s) did not stop", stacklevel=2)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeTelegram:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)`` / ``Bot(base_url=...)``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    @classmethod
    def fixture(cls, name: str = "fake_telegram", **kwargs: Any) -> Any:
        """A pytest fixture (named ``name``) yielding a started server configured with ``kwargs``.

        Put ``my_fake = FakeTelegram.fixture("my_fake", username="OtherBot")`` in a conftest/test module.
        """

        def _fixture() -> Iterator[FakeTelegram]:
            yield from fake_telegram_session(**kwargs)

        _fixture.__name__ = name
        return pytest.fixture(name=name)(_fixture)

    # ---------------------------------------------------------------- world setup

    def add_user(
        self,
        user_id: int,
        first_name: str,
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
        private_chat: bool = True,
    ) -> dict[str, Any]:
        """Register a user; by default also the private chat with the bot (chat id == user id)."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        with self._cond:
            self._users[user_id] = user
            if private_chat and user_id not in self._chats:
                self._chats[user_id] = _Chat(
                    id=user_id, type="private", first_name=first_name, last_name=last_name, username=username
                )
            return copy.deepcopy(user)

    def add_chat(
        self,
        chat_id: int,
        type: str = "private",
        title: str | None = None,
        *,
        is_forum: bool = False,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Register a chat. Private chats need ``chat_id == user id`` (the user is created if unknown)."""
        if type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {type!r}")
        if type == "private" and chat_id <= 0:
            raise ValueError("private chat ids are positive (the user id)")
        if type != "private" and chat_id >= 0:
            raise ValueError("group/supergroup/channel ids are negative (supergroups: -100...)")
        if is_forum and type != "supergroup":
            raise ValueError("only supergroups can be forums")
        with self._cond:
            if type == "private":
                if chat_id not in self._users:
                    self.add_user(chat_id, title or f"User{chat_id}", username, private_chat=False)
                user = self._users[chat_id]
                chat = _Chat(
                    id=chat_id,
                    type="private",
                    first_name=user["first_name"],
                    last_name=user.get("last_name"),
                    username=user.get("username"),
                )
            else:
                chat = _Chat(id=chat_id, type=type, title=title or f"Chat {chat_id}", username=username)
                chat.is_forum = is_forum
                chat.members[self.bot_id] = "member"
            self._chats[chat_id] = chat
            return chat.public()

    def add_topic(self, chat_id: int, name: str = "Topic") -> int:
        """Create a forum topic; returns its ``message_thread_id``. Once a chat has topics, thread ids
        are validated against them (before that any thread id is accepted in a forum)."""
        with self._cond:
            chat = self._require_chat(chat_id)
            if not chat.is_forum:
                raise ValueError("not a forum supergroup")
            service = self._new_message(chat, self.bot_user)
            service["forum_topic_created"] = {"name": name, "icon_color": 7322096}
            thread_id = service["message_id"]
            service["message_thread_id"] = thread_id
            service["is_topic_message"] = True
            self._messages[(chat.id, thread_id)] = service
            chat.topics = (chat.topics or set()) | {thread_id}
            return thread_id

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Set ``creator``/``administrator``/``member``/``left``/``kicked`` (``user_id`` may be the bot)."""
        if status not in ("creator", "administrator", "member", "left", "kicked"):
            raise ValueError(f"unsupported status {status!r}")
        with self._cond:
            chat = self._require_chat(chat_id)
            if user_id != self.bot_id and user_id not in self._users:
                raise ValueError(f"unknown user {user_id}; call add_user first")
            chat.members[user_id] = status
            if status in ("creator", "administrator"):
                chat.admin_info.setdefault(user_id, {"is_anonymous": False})
            else:
                chat.admin_info.pop(user_id, None)

    def set_admins(
        self,
        chat_id: int,
        user_ids: Iterable[int],
        *,
        owner: int | None = None,
        anonymous_admin: int | Iterable[int] | None = None,
        custom_titles: dict[int, str] | None = None,
    ) -> None:
        """Make exactly ``user_ids`` (plus ``owner``) the chat's admins; previous admins become members.

        The bot's own id may be included. ``anonymous_admin`` marks admins who post "on behalf of the
        group" (``is_anonymous``); see :meth:`user_says` ``anonymous=True``.
        """
        anonymous = {anonymous_admin} if isinstance(anonymous_admin, int) else set(anonymous_admin or ())
        titles = custom_titles or {}
        with self._cond:
            chat = self._require_chat(chat_id)
            if chat.type == "private":
                raise ValueError("private chats have no administrators")
            admins = set(user_ids)
            everyone = admins | anonymous | ({owner} if owner is not None else set())
            for uid in everyone:
                if uid != self.bot_id and uid not in self._users:
                    raise ValueError(f"unknown user {uid}; call add_user first")
            if not anonymous <= admins | {owner}:
                raise ValueError("anonymous_admin must be one of the admins")
            for uid, status in list(chat.members.items()):
                if status in ("creator", "administrator"):
                    chat.members[uid] = "member"
            chat.admin_info.clear()
            for uid in everyone:
                chat.members[uid] = "creator" if uid == owner else "administrator"
                chat.admin_info[uid] = {"is_anonymous": uid in anonymous}
                if uid in titles:
                    chat.admin_info[uid]["custom_title"] = titles[uid]

    def block_bot(self, user_id: int, blocked: bool = True) -> None:
        """The user blocks (or unblocks) the bot: sending to the private chat gives 403."""
        with self._cond:
            self._require_chat(user_id).blocked = blocked

    def add_file(
        self, data: bytes, file_name: str | None = None, mime_type: str | None = None, kind: str = "documents"
    ) -> str:
        """Store a file; returns its ``file_id`` (usable with getFile and for download)."""
        with self._cond:
            return self._store_file(data, file_name, mime_type, kind).file_id

    # ---------------------------------------------------------------- simulated users

    def user_says(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        forward_origin: dict[str, Any] | int | str | None = None,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        """A user sends ``text``; pushes a ``message`` update and returns the message dict.

        ``bot_command``/``mention``/``url`` entities are detected like Telegram does unless
        ``entities`` is given. ``reply_to`` is a message id in the chat (e.g. a bot message).
        ``forward_origin`` is a MessageOrigin dict, a user id or a hidden user's name. With
        ``anonymous=True`` (or ``user_id=GROUP_ANONYMOUS_BOT_ID``) an anonymous admin posts on behalf of
        the group: ``from`` is GroupAnonymousBot and ``sender_chat`` the group.
        """
        if not text or utf16_len(text) > MAX_TEXT_LENGTH:
            raise ValueError("a Telegram text message has 1..4096 UTF-16 code units")
        with self._cond:
            chat, message = self._user_message(
                chat_id, user_id, reply_to, thread_id, forward_origin, anonymous
            )
            message["text"] = text
            detected = entities if entities is not None else detect_entities(text)
            if detected:
                message["entities"] = copy.deepcopy(detected)
            self._deliver_user_message(chat, message)
            return copy.deepcopy(message)

    def user_sends_document(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        caption: str | None = None,
        *,
        reply_to: int | None = None,
        thread_id: int | None = None,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        """A user sends a document; the file is downloadable via getFile. Returns the message dict."""
        with self._cond:
            stored = self._store_file(data, file_name, mime_type, "documents")
            document = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(data),
            }
            return self._user_media(
                chat_id, user_id, "document", document, caption, reply_to, thread_id, anonymous
            )

    def user_sends_voice(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        duration: int = 1,
        mime_type: str = "audio/ogg",
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends a voice note. Returns the message dict."""
        with self._cond:
            stored = self._store_file(data, None, mime_type, "voice", ext=".oga")
            voice = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "duration": duration,
                "mime_type": mime_type,
                "file_size": len(data),
            }
            return self._user_media(chat_id, user_id, "voice", voice, caption, None, None, False)

    def user_sends_audio(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str = "audio/mpeg",
        duration: int = 1,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A user sends an audio file. Returns the message dict."""
        with self._cond:
            stored = self._store_file(data, file_name, mime_type, "music")
            audio = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "duration": duration,
                "file_name": file_name,
                "mime_type": mime_type,
                "file_size": len(data),
            }
            return self._user_media(chat_id, user_id, "audio", audio, caption, None, None, False)

    def press_button(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        callback_data: str | None = None,
        *,
        text: str | None = None,
    ) -> str:
        """A user presses an inline button (chosen by ``callback_data`` or by button ``text``).

        The button must exist on the message's current keyboard. Pushes a ``callback_query`` update and
        returns the callback query id (see :meth:`callback_answer`).
        """
        if callback_data is None and text is None:
            raise ValueError("give callback_data or text")
        with self._cond:
            chat = self._require_chat(chat_id)
            user = self._require_user(user_id)
            message = self._messages.get((chat.id, message_id))
            if message is None:
                raise ValueError(f"no message {message_id} in chat {chat_id}")
            buttons = [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
            button = next(
                (
                    b
                    for b in buttons
                    if "callback_data" in b
                    and (callback_data is None or b["callback_data"] == callback_data)
                    and (text is None or b["text"] == text)
                ),
                None,
            )
            if button is None:
                raise ValueError(
                    f"message {message_id} has no callback button matching data={callback_data!r} "
                    f"text={text!r}; buttons: {buttons}"
                )
            self._callback_counter += 1
            query_id = f"{self.bot_id}{self._callback_counter:08d}"
            query = {
                "id": query_id,
                "from": copy.deepcopy(user),
                "message": copy.deepcopy(message),
                "chat_instance": str((chat.id * 2654435761) % (2**62)),
                "data": button["callback_data"],
            }
            self._callback_queries[query_id] = {"query": query, "answer": None}
            self._push_update("callback_query", query)
            return query_id

    def upgrade_group(
        self,
        chat_id: int,
        new_chat_id: int,
        user_id: int,
        *,
        first: str = "to",
        announce: Iterable[str] = ("to", "from"),
    ) -> None:
        """A group becomes a supergroup (Telegram does this when, say, its history is made visible):
        ``new_chat_id`` is created with the group's title and members, the old id answers every call with
        400 and ``migrate_to_chat_id``, and the two service messages arrive: ``migrate_to_chat_id`` in the
        old chat and ``migrate_from_chat_id`` in the new one, ``first`` (``"to"`` or ``"from"``) first.
        ``announce`` leaves one out (Telegram gives no order, and a bot may miss one)."""
        if first not in ("to", "from"):
            raise ValueError('first is "to" or "from"')
        with self._cond:
            old = self._require_chat(chat_id)
            if old.type != "group":
                raise ValueError("only basic groups are upgraded")
            if new_chat_id in self._chats or not str(new_chat_id).startswith("-100"):
                raise ValueError("the supergroup's id is new and starts with -100")
            user = self._require_user(user_id)
            new = _Chat(id=new_chat_id, type="supergroup", title=old.title)
            new.members = dict(old.members)
            new.admin_info = copy.deepcopy(old.admin_info)
            self._chats[new_chat_id] = new
            to_old = self._new_message(old, user)
            to_old["migrate_to_chat_id"] = new_chat_id
            from_new = self._new_message(new, user)
            from_new["migrate_from_chat_id"] = chat_id
            old.migrated_to = new_chat_id
            messages = {"to": (old, to_old), "from": (new, from_new)}
            for kind in (first, "from" if first == "to" else "to"):
                chat, message = messages[kind]
                self._messages[(chat.id, message["message_id"])] = copy.deepcopy(message)
                if kind in announce:
                    self._push_update("message", message)

    def user_edits(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        """The user edits their text message: pushes an ``edited_message`` update; returns the message."""
        if not text or utf16_len(text) > MAX_TEXT_LENGTH:
            raise ValueError("a Telegram text message has 1..4096 UTF-16 code units")
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            if message is None or "text" not in message or message.get("from", {}).get("id") == self.bot_id:
                raise ValueError(f"no text message {message_id} of a user in chat {chat_id}")
            message["text"] = text
            message.pop("entities", None)
            detected = detect_entities(text)
            if detected:
                message["entities"] = detected
            message["edit_date"] = _now()
            self._push_update("edited_message", message)
            return copy.deepcopy(message)

    def user_sends_photo(
        self, chat_id: int, user_id: int, data: bytes = b"\xff\xd8fake-jpeg", caption: str | None = None
    ) -> dict[str, Any]:
        """A user sends a photo (Telegram's sizes: one here), with an optional caption."""
        with self._cond:
            stored = self._store_file(data, None, "image/jpeg", "photos", ext=".jpg")
            size: dict[str, Any] = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 90,
                "height": 60,
                "file_size": len(data),
            }
            return self._user_media(chat_id, user_id, "photo", [size], caption, None, None, False)

    def user_sends_sticker(self, chat_id: int, user_id: int, emoji: str = "👍") -> dict[str, Any]:
        with self._cond:
            stored = self._store_file(b"RIFFfake-webp", None, "image/webp", "stickers", ext=".webp")
            sticker = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
            }
            return self._user_media(chat_id, user_id, "sticker", sticker, None, None, None, False)

    def user_inline_query(self, user_id: int, query: str, *, chat_type: str = "sender") -> str:
        """A user types ``@bot query`` (in the chat of ``chat_type``); pushes an ``inline_query`` update
        and returns its id (see :meth:`inline_answer`). Needs ``inline_mode``, as Telegram does."""
        if not self.inline_mode:
            raise ValueError(
                "inline mode is off (FakeTelegram(inline_mode=True)): Telegram would not send it"
            )
        if utf16_len(query) > MAX_INLINE_QUERY_LENGTH:
            raise ValueError("inline queries have at most 256 characters")
        if chat_type not in ("sender", "private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat_type {chat_type!r}")
        with self._cond:
            user = self._require_user(user_id)
            self._inline_counter += 1
            query_id = f"{self.bot_id}{self._inline_counter:09d}"
            payload = {
                "id": query_id,
                "from": copy.deepcopy(user),
                "query": query,
                "offset": "",
                "chat_type": chat_type,
            }
            self._inline_queries[query_id] = {"query": payload, "answer": None}
            self._push_update("inline_query", payload)
            return query_id

    def inline_answer(self, query_id: str) -> dict[str, Any] | None:
        """The bot's answerInlineQuery for the query (results parsed, with each text's visible form and
        entities as ``message_text`` / ``entities``), or None before it answered."""
        with self._cond:
            entry = self._inline_queries.get(query_id)
            return copy.deepcopy(entry["answer"]) if entry else None

    # ---------------------------------------------------------------- inspection

    def bot_messages(self, chat_id: int, *, include_deleted: bool = True) -> list[BotMessage]:
        """Snapshots of the messages the bot sent to ``chat_id`` (current state, oldest first)."""
        with self._cond:
            messages = self._bot_messages.get(chat_id, [])
            return [copy.deepcopy(m) for m in messages if include_deleted or not m.deleted]

    def bot_message(self, chat_id: int, message_id: int) -> BotMessage:
        with self._cond:
            return copy.deepcopy(self._bot_message_index[(chat_id, message_id)])

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The stored Telegram-shaped message (user's or bot's), ``None`` if unknown or deleted."""
        with self._cond:
            return copy.deepcopy(self._messages.get((chat_id, message_id)))

    def wait_for_bot_messages(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[BotMessage]:
        """Block until ``count`` bot messages that no earlier wait returned exist in ``chat_id``.

        Returns them (and marks them as seen). Do not call this from the event loop that runs the bot;
        use :meth:`async_wait_for_bot_messages` there.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = self._take_new_bot_messages(chat_id, count)
                if result is not None:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FakeTelegramTimeout(self._wait_failure(chat_id, count, timeout))
                self._cond.wait(remaining)

    async def async_wait_for_bot_messages(
        self, chat_id: int, count: int = 1, timeout: float = 10.0
    ) -> list[BotMessage]:
        """Async variant of :meth:`wait_for_bot_messages` (does not block the event loop)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                result = self._take_new_bot_messages(chat_id, count)
                if result is not None:
                    return result
                if time.monotonic() >= deadline:
                    raise FakeTelegramTimeout(self._wait_failure(chat_id, count, timeout))
            await asyncio.sleep(0.005)

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        """Block until ``predicate()`` is truthy (re-checked on every API call); return its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FakeTelegramTimeout(f"timed out after {timeout}s waiting for {what}")
                self._cond.wait(min(remaining, 0.05))

    async def async_wait_until(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise FakeTelegramTimeout(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.005)

    def calls(self, method: str | None = None, *, include_failed: bool = False) -> list[dict[str, Any]]:
        """Decoded parameters of the calls of ``method`` (case-insensitive), oldest first."""
        with self._cond:
            return [
                copy.deepcopy(c.params)
                for c in self._calls
                if (method is None or c.method.lower() == method.lower()) and (c.ok or include_failed)
            ]

    @property
    def call_log(self) -> list[CallRecord]:
        with self._cond:
            return list(self._calls)

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        """The ``answerCallbackQuery`` parameters for ``query_id`` (``None`` while unanswered)."""
        with self._cond:
            return copy.deepcopy(self._callback_queries[query_id]["answer"])

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        """The commands currently set for ``scope`` (default scope) and ``language_code``."""
        with self._cond:
            return copy.deepcopy(self._commands.get((self._scope_key(scope), language_code), []))

    def pending_updates(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._updates)

    def take_updates(self) -> list[dict[str, Any]]:
        """The pending updates, oldest first, taken off the queue for the test to deliver to the webhook
        (the fake calls no webhook itself). Only while one is set, as Telegram pushes only then; updates
        of kinds the webhook's allowed_updates leave out are dropped, as Telegram never sends them."""
        with self._cond:
            if self._webhook is None:
                raise RuntimeError("no webhook is set: the bot gets its updates with getUpdates")
            taken = [u for u in self._updates if self._update_allowed(u)]
            self._updates = []
            return copy.deepcopy(taken)

    @property
    def webhook(self) -> dict[str, Any] | None:
        with self._cond:
            return copy.deepcopy(self._webhook)

    # ---------------------------------------------------------------- error bookkeeping

    def expect_error(self, pattern: str, *, method: str | None = None) -> None:
        """Acknowledge error answers whose description contains ``pattern`` (case-insensitive).

        Works for errors already returned and future ones; optionally only for ``method``.
        """
        with self._cond:
            self._expectations.append(_Expectation(pattern, method))

    def unexpected_errors(self) -> list[ErrorRecord]:
        with self._cond:
            return [e for e in self.errors if not any(x.matches(e) for x in self._expectations)]

    def assert_no_unexpected_errors(self) -> None:
        """Raise :class:`UnexpectedTelegramErrors` for error answers not acknowledged by expect_error."""
        unexpected = self.unexpected_errors()
        if unexpected:
            lines = "\n".join(f"  - {e}" for e in unexpected)
            raise UnexpectedTelegramErrors(
                f"the fake Telegram server returned {len(unexpected)} unacknowledged error(s):\n{lines}\n"
                "Fix the bot, or acknowledge with server.expect_error('<part of the description>')."
            )

    def clear_errors(self) -> None:
        with self._cond:
            self.errors.clear()

    # ---------------------------------------------------------------- internals: state

    def _require_chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}; call add_chat/add_user first")
        return chat

    def _require_user(self, user_id: int) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            raise ValueError(f"unknown user {user_id}; call add_user first")
        return user

    def _store_file(
        self, data: bytes, file_name: str | None, mime_type: str | None, kind: str, ext: str | None = None
    ) -> _StoredFile:
        self._file_counter += 1
        n = self._file_counter
        if ext is None:
            ext = ""
            if file_name and "." in file_name:
                ext = "." + re.sub(r"[^A-Za-z0-9]", "", file_name.rsplit(".", 1)[1])[:10]
        stored = _StoredFile(
            file_id=f"BQACAgFake{n:06d}x{self.bot_id}",
            file_unique_id=f"AgADFake{n:06d}",
            data=bytes(data),
            file_path=f"{kind}/file_{n}{ext}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _new_message(self, chat: _Chat, sender: dict[str, Any]) -> dict[str, Any]:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        sender = copy.deepcopy(sender)
        return {"message_id": message_id, "from": sender, "chat": chat.public(), "date": _now()}

    def _push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, kind: copy.deepcopy(payload)}
        self._next_update_id += 1
        self._updates.append(update)
        self._cond.notify_all()
        return update

    def _user_message(
        self,
        chat_id: int,
        user_id: int,
        reply_to: int | None,
        thread_id: int | None,
        forward_origin: dict[str, Any] | int | str | None,
        anonymous: bool,
    ) -> tuple[_Chat, dict[str, Any]]:
        chat = self._require_chat(chat_id)
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat_id} became the supergroup {chat.migrated_to}; write there")
        anonymous = anonymous or user_id == GROUP_ANONYMOUS_BOT_ID
        if anonymous:
            if chat.type not in ("group", "supergroup"):
                raise ValueError("anonymous admins exist only in groups")
            if user_id != GROUP_ANONYMOUS_BOT_ID and not chat.admin_info.get(user_id, {}).get("is_anonymous"):
                raise ValueError(f"user {user_id} is not an anonymous admin of {chat_id}; use set_admins")
            message = self._new_message(chat, GROUP_ANONYMOUS_BOT)
            message["sender_chat"] = chat.public()
            title = chat.admin_info.get(user_id, {}).get("custom_title")
            if title:
                message["author_signature"] = title
        else:
            user = self._require_user(user_id)
            if chat.type == "private":
                if chat.id != user_id:
                    raise ValueError("in a private chat only its user can write")
            else:
                status = chat.members.get(user_id)
                if status in ("left", "kicked"):
                    raise ValueError(f"user {user_id} is not a member of chat {chat_id} ({status})")
                chat.members.setdefault(user_id, "member")
            message = self._new_message(chat, user)
        if thread_id is not None and (
            not chat.is_forum or (chat.topics is not None and thread_id not in chat.topics)
        ):
            raise ValueError(f"chat {chat_id} has no topic {thread_id}")
        if reply_to is not None:
            target = self._messages.get((chat.id, reply_to))
            if target is None:
                raise ValueError(f"no message {reply_to} in chat {chat_id} to reply to")
            message["reply_to_message"] = self._reply_copy(target)
            if thread_id is None and target.get("message_thread_id") is not None:
                thread_id = target["message_thread_id"]
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if forward_origin is not None:
            message["forward_origin"] = self._forward_origin(forward_origin)
        return chat, message

    def _forward_origin(self, origin: dict[str, Any] | int | str) -> dict[str, Any]:
        if isinstance(origin, dict):
            return copy.deepcopy({"date": _now(), **origin})
        if isinstance(origin, int):
            return {"type": "user", "date": _now(), "sender_user": copy.deepcopy(self._require_user(origin))}
        return {"type": "hidden_user", "date": _now(), "sender_user_name": origin}

    def _user_media(
        self,
        chat_id: int,
        user_id: int,
        kind: str,
        media: dict[str, Any] | list[dict[str, Any]],  # a photo is a list of sizes
        caption: str | None,
        reply_to: int | None,
        thread_id: int | None,
        anonymous: bool,
    ) -> dict[str, Any]:
        if caption is not None and utf16_len(caption) > MAX_CAPTION_LENGTH:
            raise ValueError("captions have at most 1024 UTF-16 code units")
        chat, message = self._user_message(chat_id, user_id, reply_to, thread_id, None, anonymous)
        message[kind] = media
        if caption:
            message["caption"] = caption
            detected = detect_entities(caption)
            if detected:
                message["caption_entities"] = detected
        self._deliver_user_message(chat, message)
        return copy.deepcopy(message)

    @staticmethod
    def _reply_copy(message: dict[str, Any]) -> dict[str, Any]:
        reply = copy.deepcopy(message)
        reply.pop("reply_to_message", None)
        return reply

    def _deliver_user_message(self, chat: _Chat, message: dict[str, Any]) -> None:
        self._messages[(chat.id, message["message_id"])] = copy.deepcopy(message)
        if self.privacy_mode and chat.type in ("group", "supergroup") and not self._bot_sees(chat, message):
            self.undelivered.append(copy.deepcopy(message))
            self._cond.notify_all()
            return
        self._push_update("message", message)

    def _bot_sees(self, chat: _Chat, message: dict[str, Any]) -> bool:
        """Privacy mode: admins see everything; others only commands and replies to the bot."""
        if chat.members.get(self.bot_id) in ("creator", "administrator"):
            return True
        if message.get("reply_to_message", {}).get("from", {}).get("id") == self.bot_id:
            return True
        text = message.get("text") or message.get("caption") or ""
        entities = message.get("entities") or message.get("caption_entities") or []
        first = entities[0] if entities else None
        if first and first["type"] == "bot_command" and first["offset"] == 0:
            command = _utf16_slice(text, 0, first["length"])
            return "@" not in command or command.split("@", 1)[1].lower() == self.username.lower()
        return False

    def _take_new_bot_messages(self, chat_id: int, count: int) -> list[BotMessage] | None:
        messages = self._bot_messages.get(chat_id, [])
        cursor = self._wait_cursor.get(chat_id, 0)
        if len(messages) - cursor < count:
            return None
        self._wait_cursor[chat_id] = cursor + count
        return [copy.deepcopy(m) for m in messages[cursor : cursor + count]]

    def _wait_failure(self, chat_id: int, count: int, timeout: float) -> str:
        messages = self._bot_messages.get(chat_id, [])
        cursor = self._wait_cursor.get(chat_id, 0)
        sent = "\n".join(f"  [{i}] {m.method} {m.text!r}" for i, m in enumerate(messages)) or "  (none)"
        errors = "\n".join(f"  - {e}" for e in self.errors[-10:]) or "  (none)"
        return (
            f"timed out after {timeout}s waiting for {count} new bot message(s) in chat {chat_id} "
            f"({len(messages) - cursor} new, {cursor} already seen)\nbot messages in that chat:\n{sent}\n"
            f"recent error answers:\n{errors}"
        )

    @staticmethod
    def _scope_key(scope: dict[str, Any] | None) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True)

    def _record_internal_error(self, what: str, exc: BaseException) -> None:
        with self._cond:
            self.errors.append(
                ErrorRecord(
                    what,
                    {"traceback": "".join(traceback.format_exception(exc))[-2000:]},
                    f"Internal Server Error: {exc!r}",
                    500,
                )
            )
            self._cond.notify_all()

    # ---------------------------------------------------------------- internals: HTTP

    def _handle_http(
        self, command: str, raw_path: str, content_type: str, body: bytes, conn: socket.socket
    ) -> tuple[int, str, bytes]:
        split = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(split.path)
        file_match = re.fullmatch(r"/file/bot([^/]+)/(.+)", path)
        if file_match and command == "GET":
            with self._cond:
                stored = self._files_by_path.get(file_match.group(2))
            if stored is None or file_match.group(1) != self.token:
                not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
                return 404, "application/json", _json_bytes(not_found)
            return 200, stored.mime_type or "application/octet-stream", stored.data
        api_match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)/?", path)
        if api_match is None:
            return self._error_response("?", {}, ApiError(404, "Not Found"))
        token, method = api_match.groups()
        try:
            params = _parse_request(split.query, content_type, body)
        except ApiError as parse_error:
            return self._error_response(method, {}, parse_error)
        params.connection = conn
        if token != self.token:
            auth = ApiError(401, "Unauthorized") if _TOKEN_RE.match(token) else ApiError(404, "Not Found")
            return self._error_response(method, params.values, auth)
        entry = self._api.get(method.lower())
        if entry is None:
            return self._error_response(method, params.values, ApiError(404, "Not Found"))
        name, func = entry
        try:
            with self._cond:
                result = func(params)
                self._calls.append(CallRecord(name, _loggable(params.values), True))
                self._cond.notify_all()
        except _PollTerminated:
            conflict = ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
                # A client that already hung up (PTB cancelling its long poll on shutdown) never sees this.
                record=not _peer_closed(conn, 0.3),
            )
            return self._error_response(name, params.values, conflict)
        except ApiError as err:
            return self._error_response(name, params.values, err)
        return 200, "application/json", _json_bytes({"ok": True, "result": result})

    def _error_response(self, method: str, values: dict[str, Any], err: ApiError) -> tuple[int, str, bytes]:
        if err.record:
            with self._cond:
                params = _loggable(values)
                self.errors.append(ErrorRecord(method, params, err.description, err.code))
                self._calls.append(CallRecord(method, params, False, err.description))
                self._cond.notify_all()
        body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
        if err.parameters:
            body["parameters"] = err.parameters
        return err.code, "application/json", _json_bytes(body)

    # ---------------------------------------------------------------- internals: validation

    def _resolve_chat(self, p: _Params, key: str = "chat_id") -> _Chat:
        value = p.values.get(key)
        if value is None or value == "":
            raise _bad(f"{key} is empty")
        chat: _Chat | None = None
        if isinstance(value, str) and value.startswith("@"):
            chat = next(
                (
                    c
                    for c in self._chats.values()
                    if c.type != "private" and c.username and c.username.lower() == value[1:].lower()
                ),
                None,
            )
        elif isinstance(value, int | str) and re.fullmatch(r"\s*-?\d+\s*", str(value)):
            chat = self._chats.get(int(value))
        if chat is None:
            raise _bad("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                parameters={"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def _check_can_send(self, chat: _Chat) -> None:
        if chat.type == "private":
            if chat.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            return
        status = chat.members.get(self.bot_id, "member")
        kind = "supergroup" if chat.type == "supergroup" else "group"
        if chat.type == "channel" and status not in ("creator", "administrator"):
            raise _bad("need administrator rights in the channel chat")
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")

    def _resolve_thread(self, chat: _Chat, p: _Params) -> int | None:
        thread_id = p.integer("message_thread_id")
        if not thread_id:
            return None
        if chat.type == "supergroup" and chat.is_forum and (chat.topics is None or thread_id in chat.topics):
            return thread_id
        raise _bad("message thread not found")

    def _resolve_reply(self, chat: _Chat, p: _Params) -> dict[str, Any] | None:
        params = p.json("reply_parameters")
        if params is None and p.has("reply_to_message_id"):
            params = {
                "message_id": p.integer("reply_to_message_id"),
                "allow_sending_without_reply": p.boolean("allow_sending_without_reply"),
            }
        if params is None:
            return None
        if not isinstance(params, dict) or not isinstance(params.get("message_id"), int):
            raise _bad("can't parse reply parameters JSON object")
        target_chat = chat
        if params.get("chat_id") is not None:
            target_chat = self._resolve_chat(_Params({"chat_id": params["chat_id"]}, {}))
        target = self._messages.get((target_chat.id, params["message_id"]))
        if target is None:
            if params.get("allow_sending_without_reply") or p.boolean("allow_sending_without_reply"):
                return None
            raise _bad("message to be replied not found")
        quote = params.get("quote")
        if quote is not None and quote not in (target.get("text") or target.get("caption") or ""):
            raise _bad("QUOTE_TEXT_INVALID")
        return target

    def _format_text(
        self, p: _Params, key: str, entities_key: str, *, caption: bool
    ) -> tuple[str, list[dict[str, Any]]]:
        raw = p.string(key)
        parse_mode = p.string("parse_mode")
        explicit = p.json(entities_key)
        if raw is None:
            if caption:
                return "", []
            raise _bad("message text is empty")
        if explicit is not None:
            if not isinstance(explicit, list) or not all(isinstance(e, dict) for e in explicit):
                raise _bad(f"can't parse {entities_key} JSON object")
            text, entities = raw, copy.deepcopy(explicit)
            _check_entity_bounds(entities, utf16_len(text))
        elif parse_mode is None or parse_mode == "":
            text, entities = raw, []
        elif parse_mode.lower() == "html":
            try:
                text, entities = parse_html(
                    raw, strict_entities=self.strict_html_entities, resolve_user=self._users.get
                )
            except HtmlParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        elif parse_mode.lower() in ("markdown", "markdownv2"):
            text, entities = raw, []  # not validated by this fake
        else:
            raise _bad("unsupported parse_mode")
        text, entities = _trim(text, entities)
        length = utf16_len(text)
        if caption:
            if length > MAX_CAPTION_LENGTH:
                raise _bad("message caption is too long")
        else:
            if length == 0:
                raise _bad("message text is empty")
            if length > MAX_TEXT_LENGTH:
                raise _bad("message is too long")
        _check_entity_bounds(entities, length)
        return text, entities

    def _validate_reply_markup(self, p: _Params) -> dict[str, Any] | None:
        markup = p.json("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad('field "inline_keyboard" must be an Array of Arrays')
            buttons = [button for row in rows for button in row]
            if len(buttons) > MAX_INLINE_BUTTONS:
                raise _bad("reply markup is too long")
            for button in buttons:
                self._validate_inline_button(button)
            return {"inline_keyboard": [[copy.deepcopy(b) for b in row if b] for row in rows if row]}
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise _bad('field "keyboard" must be an Array of Arrays')
            for button in (b for row in rows for b in row):
                label = (
                    button
                    if isinstance(button, str)
                    else button.get("text")
                    if isinstance(button, dict)
                    else None
                )
                if not isinstance(label, str) or not label:
                    raise _bad('can\'t parse keyboard button: Field "text" must be of type String')
            return copy.deepcopy(markup)
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return copy.deepcopy(markup)
        raise _bad("can't parse reply keyboard markup JSON object")

    @staticmethod
    def _validate_inline_button(button: Any) -> None:
        if not isinstance(button, dict):
            raise _bad("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        if not isinstance(button.get("text"), str) or not button["text"]:
            raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
        actions = [
            k
            for k in (
                "callback_data",
                "url",
                "switch_inline_query",
                "switch_inline_query_current_chat",
                "switch_inline_query_chosen_chat",
                "web_app",
                "login_url",
                "pay",
                "callback_game",
                "copy_text",
            )
            if k in button
        ]
        if not actions:
            raise _bad(
                "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                raise _bad("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            valid = isinstance(url, str) and (
                re.match(r"^tg://\S+$", url, re.IGNORECASE)
                or (re.match(r"^https?://", url, re.IGNORECASE) and _normalize_url(url) is not None)
            )
            if not valid:
                raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _link_preview(self, p: _Params) -> dict[str, Any] | None:
        options = p.json("link_preview_options")
        if options is not None and not isinstance(options, dict):
            raise _bad("can't parse link preview options JSON object")
        if p.has("disable_web_page_preview"):
            options = {**(options or {}), "is_disabled": p.boolean("disable_web_page_preview")}
        return copy.deepcopy(options)

    def _send(
        self,
        p: _Params,
        method: str,
        chat: _Chat,
        *,
        text: str,
        entities: list[dict[str, Any]],
        text_key: str,
        extra: dict[str, Any] | None = None,
        document_bytes: bytes | None = None,
    ) -> dict[str, Any]:
        thread_id = self._resolve_thread(chat, p)
        markup = self._validate_reply_markup(p)
        target = self._resolve_reply(chat, p)
        if thread_id is None and target is not None and chat.is_forum:
            thread_id = target.get("message_thread_id")
        link_preview = self._link_preview(p) if text_key == "text" else None

        message = self._new_message(chat, self.bot_user)
        if text or text_key == "text":
            message[text_key] = text
        if entities:
            message["entities" if text_key == "text" else "caption_entities"] = copy.deepcopy(entities)
        if extra:
            message.update(copy.deepcopy(extra))
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        if target is not None:
            message["reply_to_message"] = self._reply_copy(target)
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if link_preview is not None:
            message["link_preview_options"] = link_preview
        if p.boolean("protect_content"):
            message["has_protected_content"] = True
        self._messages[(chat.id, message["message_id"])] = message
        record = BotMessage(
            chat_id=chat.id,
            message_id=message["message_id"],
            method=method,
            text=text if (text or text_key == "text") else None,
            raw_text=p.string(text_key),
            parse_mode=p.string("parse_mode"),
            entities=copy.deepcopy(entities),
            reply_markup=markup,
            reply_to=target["message_id"] if target is not None else None,
            thread_id=thread_id,
            link_preview_options=link_preview,
            disable_notification=p.boolean("disable_notification"),
            protect_content=p.boolean("protect_content"),
            message=message,
            document=copy.deepcopy(extra.get("document")) if extra else None,
            document_bytes=document_bytes,
        )
        self._bot_messages.setdefault(chat.id, []).append(record)
        self._bot_message_index[(chat.id, message["message_id"])] = record
        return copy.deepcopy(message)

    def _editable(self, p: _Params) -> tuple[_Chat, dict[str, Any], BotMessage | None]:
        if p.has("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        if not p.has("chat_id") or not p.has("message_id"):
            raise _bad("message identifier is not specified")
        chat = self._resolve_chat(p)
        message_id = p.integer("message_id")
        message = self._messages.get((chat.id, message_id or 0))
        if message is None:
            raise _bad("message to edit not found")
        record = self._bot_message_index.get((chat.id, message["message_id"]))
        if record is None:
            raise _bad("message can't be edited")
        return chat, message, record

    @staticmethod
    def _snapshot(record: BotMessage) -> dict[str, Any]:
        return copy.deepcopy(
            {
                "text": record.text,
                "raw_text": record.raw_text,
                "parse_mode": record.parse_mode,
                "entities": record.entities,
                "reply_markup": record.reply_markup,
            }
        )

    def _member_dict(self, chat: _Chat, user_id: int) -> dict[str, Any]:
        user = self.bot_user if user_id == self.bot_id else self._users.get(user_id)
        if user_id == GROUP_ANONYMOUS_BOT_ID:
            user = GROUP_ANONYMOUS_BOT
        if user is None:
            raise _bad("user not found")
        user = copy.deepcopy({k: v for k, v in user.items() if k != "language_code"})
        if chat.type == "private":
            status = "member" if user_id in (chat.id, self.bot_id) else "left"
        else:
            status = chat.members.get(user_id, "left")
            if user_id == GROUP_ANONYMOUS_BOT_ID:
                status = "member"
        info = chat.admin_info.get(user_id, {})
        if status == "creator":
            data = {"status": "creator", "user": user, "is_anonymous": info.get("is_anonymous", False)}
        elif status == "administrator":
            data = {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": info.get("is_anonymous", False),
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": True,
                "can_restrict_members": True,
                "can_promote_members": False,
                "can_change_info": True,
                "can_invite_users": True,
                "can_post_stories": True,
                "can_edit_stories": True,
                "can_delete_stories": True,
                "can_pin_messages": True,
            }
            if chat.is_forum:
                data["can_manage_topics"] = True
        elif status == "kicked":
            data = {"status": "kicked", "user": user, "until_date": 0}
        else:
            data = {"status": status, "user": user}
        if info.get("custom_title") and status in ("creator", "administrator"):
            data["custom_title"] = info["custom_title"]
        return data

    # ---------------------------------------------------------------- API methods

    def _api_getme(self, p: _Params) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": self.inline_mode,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _api_getupdates(self, p: _Params) -> Any:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first",
            )
        offset = p.integer("offset", 0) or 0
        limit = p.integer("limit", 100) or 100
        limit = 100 if limit <= 0 or limit > 100 else limit
        timeout = max(0.0, p.number("timeout", 0.0) or 0.0)
        allowed = p.json("allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise _bad("can't parse allowed_updates JSON object")
            self._allowed_updates = [str(a) for a in allowed]
        self._poll_generation += 1
        generation = self._poll_generation
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        deadline = time.monotonic() + timeout
        while True:
            if self._stopping:
                return []
            if generation != self._poll_generation:
                raise _PollTerminated
            batch = [u for u in self._updates if self._update_allowed(u)][:limit]
            if batch:
                return copy.deepcopy(batch)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._cond.wait(remaining)

    def _update_allowed(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if not self._allowed_updates:
            return kind not in ("chat_member", "message_reaction", "message_reaction_count")
        return kind in self._allowed_updates

    def _api_deletewebhook(self, p: _Params) -> Any:
        self._webhook = None
        if p.boolean("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setwebhook(self, p: _Params) -> Any:
        url = p.string("url", "") or ""
        if p.boolean("drop_pending_updates"):
            self._updates.clear()
        if not url:
            self._webhook = None
            return True
        if not url.lower().startswith("https://") or _normalize_url(url) is None:
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.string("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _bad("bad webhook: secret token contains unallowed characters")
        allowed = p.json("allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed)
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": p.integer("max_connections", 40),
            "allowed_updates": allowed,
        }
        return True

    def _api_getwebhookinfo(self, p: _Params) -> Any:
        info: dict[str, Any] = {
            "url": self._webhook["url"] if self._webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook:
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = self._webhook["allowed_updates"]
        return info

    def _commands_key(self, p: _Params) -> tuple[str, str]:
        scope = p.json("scope")
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad("can't parse BotCommandScope JSON object")
        kind = scope["type"]
        if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            scope = {"type": kind}
        elif kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._resolve_chat(_Params({"chat_id": scope.get("chat_id")}, {}))
            if kind == "chat_member":
                user_id = scope.get("user_id")
                if not isinstance(user_id, int) or user_id not in self._users:
                    raise _bad("user not found")
            if kind != "chat" and chat.type == "private":
                raise _bad("can't use chat administrators scope in private chats")
        else:
            raise _bad("wrong BotCommandScope type specified")
        language = p.string("language_code", "") or ""
        if not _LANGUAGE_CODE_RE.match(language):
            raise _bad("invalid language code specified")
        return self._scope_key(scope), language

    def _api_setmycommands(self, p: _Params) -> Any:
        commands = p.json("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        cleaned = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name):
                raise _bad("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._commands_key(p)
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    def _api_getmycommands(self, p: _Params) -> Any:
        return copy.deepcopy(self._commands.get(self._commands_key(p), []))

    def _api_deletemycommands(self, p: _Params) -> Any:
        self._commands.pop(self._commands_key(p), None)
        return True

    def _api_sendmessage(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        self._check_can_send(chat)
        text, entities = self._format_text(p, "text", "entities", caption=False)
        return self._send(p, "sendMessage", chat, text=text, entities=entities, text_key="text")

    def _api_senddocument(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        self._check_can_send(chat)
        value = p.values.get("document")
        upload: _Upload | None = None
        stored: _StoredFile | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = p.files.get(value[len("attach://") :])
        elif value is None or value == "":
            upload = p.files.get("document")
        elif isinstance(value, str) and value in self._files:
            stored = self._files[value]
        elif isinstance(value, str) and re.match(r"^https?://", value):
            raise _bad("failed to get HTTP URL content")
        else:
            raise _bad("wrong file identifier/HTTP URL specified")
        if upload is None and stored is None:
            raise _bad("there is no document in the request")
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            stored = self._store_file(upload.data, upload.filename, upload.content_type, "documents")
        assert stored is not None
        caption, entities = self._format_text(p, "caption", "caption_entities", caption=True)
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return self._send(
            p,
            "sendDocument",
            chat,
            text=caption,
            entities=entities,
            text_key="caption",
            extra={"document": document},
            document_bytes=stored.data,
        )

    def _api_editmessagetext(self, p: _Params) -> Any:
        _chat, message, record = self._editable(p)
        assert record is not None
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        text, entities = self._format_text(p, "text", "entities", caption=False)
        markup = self._validate_reply_markup(p)
        link_preview = self._link_preview(p)
        if text == record.text and entities == record.entities and markup == record.reply_markup:
            raise _bad(_NOT_MODIFIED)
        record.edits.append(self._snapshot(record))
        record.text, record.raw_text, record.parse_mode = text, p.string("text"), p.string("parse_mode")
        record.entities, record.reply_markup = copy.deepcopy(entities), markup
        if link_preview is not None:
            record.link_preview_options = link_preview
            message["link_preview_options"] = link_preview
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = copy.deepcopy(entities)
        self._set_inline_markup(message, markup)
        message["edit_date"] = _now()
        return copy.deepcopy(message)

    def _api_editmessagereplymarkup(self, p: _Params) -> Any:
        _chat, message, record = self._editable(p)
        assert record is not None
        markup = self._validate_reply_markup(p)
        if markup is not None and "inline_keyboard" not in markup:
            raise _bad("only inline keyboards can be edited")
        if markup == record.reply_markup:
            raise _bad(_NOT_MODIFIED)
        record.edits.append(self._snapshot(record))
        record.reply_markup = markup
        self._set_inline_markup(message, markup)
        message["edit_date"] = _now()
        return copy.deepcopy(message)

    @staticmethod
    def _set_inline_markup(message: dict[str, Any], markup: dict[str, Any] | None) -> None:
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = copy.deepcopy(markup)
        else:
            message.pop("reply_markup", None)

    def _api_deletemessage(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        message_id = p.integer("message_id")
        if message_id is None:
            raise _bad("message identifier is not specified")
        message = self._messages.get((chat.id, message_id))
        if message is None:
            raise _bad("message to delete not found")
        record = self._bot_message_index.get((chat.id, message_id))
        if (
            record is None
            and chat.type != "private"
            and chat.members.get(self.bot_id)
            not in (
                "creator",
                "administrator",
            )
        ):
            raise _bad("message can't be deleted")
        del self._messages[(chat.id, message_id)]
        if record is not None:
            record.deleted = True
        return True

    def _api_answercallbackquery(self, p: _Params) -> Any:
        query_id = p.string("callback_query_id")
        if not query_id:
            raise _bad("callback_query_id is empty")
        entry = self._callback_queries.get(query_id)
        if entry is None or entry["answer"] is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = p.string("text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        entry["answer"] = _loggable(p.values)
        return True

    def _api_answerinlinequery(self, p: _Params) -> Any:
        query_id = p.string("inline_query_id")
        if not query_id:
            raise _bad("inline_query_id is empty")
        entry = self._inline_queries.get(query_id)
        if entry is None or entry["answer"] is not None:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        results = p.json("results")
        if not isinstance(results, list):
            raise _bad("can't parse inline query results JSON object")
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        shown = [self._inline_result(result, seen) for result in results]
        cache_time = p.integer("cache_time", 300)
        if cache_time is None or cache_time < 0:
            raise _bad("cache_time must be non-negative")
        next_offset = p.string("next_offset", "") or ""
        if len(next_offset.encode()) > 64:
            raise _bad("NEXT_OFFSET_INVALID")
        button = p.json("button")
        if button is not None:
            start = button.get("start_parameter") if isinstance(button, dict) else None
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad("can't parse InlineQueryResultsButton JSON object")
            if "web_app" not in button and not (
                isinstance(start, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", start)
            ):
                raise _bad("START_PARAM_INVALID")
        entry["answer"] = {
            "results": shown,
            "cache_time": cache_time,
            "is_personal": p.boolean("is_personal"),
            "next_offset": next_offset,
            "button": copy.deepcopy(button),
        }
        return True

    def _inline_result(self, result: Any, seen: set[str]) -> dict[str, Any]:
        """Check one InlineQueryResult as Telegram does; the article's text as a chat would show it."""
        if not isinstance(result, dict) or result.get("type") not in _INLINE_RESULT_TYPES:
            raise _bad("RESULT_TYPE_INVALID")
        result_id = result.get("id")
        if not isinstance(result_id, str) or not 1 <= len(result_id.encode()) <= MAX_INLINE_RESULT_ID_BYTES:
            raise _bad("RESULT_ID_INVALID")
        if result_id in seen:
            raise _bad("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        shown = copy.deepcopy(result)
        if result.get("reply_markup") is not None:
            self._validate_reply_markup(_Params({"reply_markup": result["reply_markup"]}, {}))
        if result["type"] != "article":
            return shown
        if not isinstance(result.get("title"), str) or not result["title"].strip():
            raise _bad("RESULT_TITLE_EMPTY")
        content = result.get("input_message_content")
        if not isinstance(content, dict) or "message_text" not in content:
            raise _bad("can't parse InputMessageContent: message_text must be non-empty")
        values = {"text": content["message_text"]}
        for key in ("parse_mode", "entities"):
            if content.get(key) is not None:
                values[key] = content[key]
        text, entities = self._format_text(_Params(values, {}), "text", "entities", caption=False)
        shown["input_message_content"] = {**content, "message_text": text, "entities": entities}
        return shown

    def _api_sendchataction(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        self._check_can_send(chat)
        self._resolve_thread(chat, p)
        action = p.string("action")
        if not action:
            raise _bad("action is empty")
        if action not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _api_getchat(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        data = chat.public()
        data.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return data

    def _api_getchatmember(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        user_id = p.integer("user_id")
        if user_id is None:
            raise _bad("user_id is empty")
        return self._member_dict(chat, user_id)

    def _api_getchatadministrators(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        admins = [uid for uid, status in chat.members.items() if status in ("creator", "administrator")]
        admins.sort(key=lambda uid: chat.members[uid] != "creator")
        return [self._member_dict(chat, uid) for uid in admins]

    def _api_getfile(self, p: _Params) -> Any:
        file_id = p.string("file_id")
        if not file_id:
            raise _bad("file_id is empty")
        stored = self._files.get(file_id)
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_SIZE:
            raise _bad("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _api_leavechat(self, p: _Params) -> Any:
        chat = self._resolve_chat(p)
        if chat.type == "private":
            raise _bad("chat member status can't be changed in private chats")
        chat.members[self.bot_id] = "left"
        return True

    def _api_close(self, p: _Params) -> Any:
        return True

    def _api_logout(self, p: _Params) -> Any:
        return True


def _check_entity_bounds(entities: list[dict[str, Any]], length: int) -> None:
    for entity in entities:
        offset, size = entity.get("offset"), entity.get("length")
        if not isinstance(entity.get("type"), str):
            raise _bad('can\'t parse MessageEntity: Field "type" must be of type String')
        if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size <= 0:
            raise _bad("can't parse entities: entity offset/length must be non-negative integers")
        if offset + size > length:
            raise _bad("can't parse entities: entity ends after the end of the text")


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram strips leading/trailing whitespace from message texts and clips entities."""
    whitespace = " \t\r\n\v\f"
    stripped = text.strip(whitespace)
    if stripped == text:
        return text, entities
    left = utf16_len(text[: len(text) - len(text.lstrip(whitespace))])
    new_length = utf16_len(stripped)
    clipped = []
    for entity in entities:
        start = max(0, entity.get("offset", 0) - left)
        end = min(new_length, entity.get("offset", 0) + entity.get("length", 0) - left)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, clipped


def _loggable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in values.items() if v is not None}


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


# --------------------------------------------------------------------------------------------------
# pytest integration
# --------------------------------------------------------------------------------------------------


def fake_telegram_session(**kwargs: Any) -> Iterator[FakeTelegram]:
    """Generator behind the fixtures: start a server, yield it, stop it, then fail on unacknowledged
    error answers (raises :class:`UnexpectedTelegramErrors`)."""
    server = FakeTelegram(**kwargs)
    with server:
        yield server
    server.assert_no_unexpected_errors()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A started :class:`FakeTelegram`; teardown fails the test on unacknowledged error answers."""
    yield from fake_telegram_session()
