"""Tests of the fake Bot API server, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import html as html_lib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import telegram
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters, Update
from telegram.error import BadRequest, Forbidden, InvalidToken
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from tests.fake_telegram import (
    DEFAULT_TOKEN,
    GROUP_ANONYMOUS_BOT_ID,
    FakeTelegram,
    FakeTelegramTimeout,
    HtmlParseError,
    UnexpectedTelegramErrors,
    fake_telegram,  # noqa: F401 - the module's fixture, used via request.getfixturevalue
    fake_telegram_session,
    parse_html,
    utf16_len,
)

T = TypeVar("T")

USER = 42
GROUP = -1001234567890
FORUM = -1009876543210

fake = FakeTelegram.fixture("fake")
other_fake = FakeTelegram.fixture("other_fake", username="OtherTestBot")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_bot(server: FakeTelegram, token: str | None = None) -> telegram.Bot:
    return telegram.Bot(token or server.token, base_url=server.base_url, base_file_url=server.base_file_url)


def message_of(update: Update) -> telegram.Message:
    assert update.message is not None
    return update.message


def with_user(server: FakeTelegram) -> FakeTelegram:
    server.add_user(USER, "Ada", "ada_l")
    return server


# ------------------------------------------------------------------------------------------- basics


def test_get_me_and_token_check(fake: FakeTelegram) -> None:
    async def scenario() -> None:
        async with make_bot(fake) as bot:
            me = await bot.get_me()
            assert me.username == "VerbatimTestBot"
            assert me.id == int(DEFAULT_TOKEN.split(":")[0])
            assert me.is_bot
        wrong = "987654321:" + "x" * 35
        with pytest.raises(InvalidToken):
            async with make_bot(fake, token=wrong) as bot:
                await bot.get_me()

    run(scenario())
    assert fake.errors[-1].status == 401
    fake.expect_error("Unauthorized")


def test_custom_fixture_and_module_fixture(other_fake: FakeTelegram, request: pytest.FixtureRequest) -> None:
    default = request.getfixturevalue("fake_telegram")
    assert isinstance(default, FakeTelegram)
    assert default.port != other_fake.port

    async def scenario() -> None:
        async with make_bot(other_fake) as bot:
            assert (await bot.get_me()).username == "OtherTestBot"

    run(scenario())


def test_unknown_method_and_garbage_requests_do_not_kill_the_server(fake: FakeTelegram) -> None:
    with httpx.Client(base_url=fake.url) as client:
        api = f"/bot{fake.token}"
        assert client.post(f"{api}/sendPhoto", data={"chat_id": "1"}).json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found",
        }
        bad_json = client.post(
            f"{api}/sendMessage", content=b"{nope", headers={"Content-Type": "application/json"}
        )
        assert bad_json.status_code == 400
        assert client.get("/completely/elsewhere").status_code == 404
        assert client.post(f"{api}/sendMessage", data={"chat_id": "x", "text": "hi"}).status_code == 400
        # JSON bodies, GET with a query string, and case-insensitive method names all work.
        assert client.post(f"{api}/GETME", json={}).json()["result"]["username"] == "VerbatimTestBot"
        assert client.get(f"{api}/getMe").json()["ok"] is True
        fake.add_user(USER, "Ada")
        legacy = client.post(
            f"{api}/sendMessage", json={"chat_id": USER, "text": "x.org", "disable_web_page_preview": True}
        )
        assert legacy.json()["result"]["link_preview_options"] == {"is_disabled": True}
    assert fake.bot_messages(USER)[0].link_preview_options == {"is_disabled": True}
    fake.expect_error("Not Found")
    fake.expect_error("can't parse JSON", method="sendMessage")
    fake.expect_error("chat not found")
    assert not fake.unexpected_errors()


# ------------------------------------------------------------------------------------------- HTML


def test_send_message_with_valid_html(fake: FakeTelegram) -> None:
    with_user(fake)
    html = (
        "<b>Bold <i>and italic</i></b> &lt;tag&gt; &amp; &quot;q&quot; &#39;&#x41; "
        '<a href="https://example.org/a?b=1&amp;c=2">link</a> <code>x&lt;y</code> '
        '<pre><code class="language-python">print(1)</code></pre>'
        '<tg-spoiler>s</tg-spoiler><span class="tg-spoiler">p</span><blockquote expandable>q</blockquote>'
        "<u>u</u><s>s</s><strong>B</strong><em>E</em><ins>I</ins><del>D</del> 😀"
    )

    async def scenario() -> telegram.Message:
        async with make_bot(fake) as bot:
            return await bot.send_message(
                USER, html, parse_mode="HTML", link_preview_options=LinkPreviewOptions(url="https://a.org")
            )

    message = run(scenario())
    assert (message.text or "").startswith('Bold and italic <tag> & "q" \'A link x<y print(1)')
    types = [e.type for e in message.entities]
    assert "bold" in types and "italic" in types and "text_link" in types and "expandable_blockquote" in types
    assert message.entities[0].type == "bold" and message.entities[0].length == len("Bold and italic")
    link = next(e for e in message.entities if e.type == "text_link")
    assert link.url == "https://example.org/a?b=1&c=2"
    pre = next(e for e in message.entities if e.type == "pre")
    assert pre.language == "python"

    [record] = fake.bot_messages(USER)
    assert record.raw_text == html
    assert record.parse_mode == "HTML"
    assert record.entity_texts("bold") == ["Bold and italic", "B"]
    assert record.entity_texts("code") == ["x<y"]
    assert record.link_preview_options == {"url": "https://a.org"}
    assert fake.wait_for_bot_messages(USER)[0].message_id == message.message_id


@pytest.mark.parametrize(
    ("html", "description"),
    [
        ("<b>unclosed", "Can't find end tag corresponding to start tag b"),
        ("hi <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 3'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("a <b", "Unclosed start tag at byte offset 2"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="bold">x</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("fish &nbsp; chips", 'unsupported HTML entity "&nbsp"'),
        ("fish & chips", 'Unescaped "&"'),
        ("a &lt b", 'unsupported HTML entity "&lt"'),
        ('<a href="https://x.org/?a=1&b=2">x</a>', 'Unescaped "&"'),
    ],
)
def test_bad_html_is_rejected(fake: FakeTelegram, html: str, description: str) -> None:
    with_user(fake)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
                await bot.send_message(USER, html, parse_mode="HTML")

    run(scenario())
    [error] = fake.errors
    assert error.description.startswith("Bad Request: can't parse entities: ")
    assert description in error.description
    fake.expect_error("can't parse entities")
    assert fake.bot_messages(USER) == []


def test_parse_html_matches_tdlib_examples() -> None:
    assert parse_html("🏟 🏟&lt;<i>a</i>") == ("🏟 🏟<a", [{"offset": 6, "length": 1, "type": "italic"}])
    with pytest.raises(HtmlParseError, match="Unclosed start tag at byte offset 13"):
        parse_html("🏟 🏟&lt;<abacaba")
    with pytest.raises(HtmlParseError, match='Unsupported start tag "abac" at byte offset 13'):
        parse_html("🏟 🏟&lt;<abac aba>")
    with pytest.raises(HtmlParseError, match="Unexpected end of name token at byte offset 27"):
        parse_html("🏟 🏟&lt;<i    aba  =  190azAz-.,")
    assert parse_html("<i>a</>")[1] == [{"offset": 0, "length": 1, "type": "italic"}]
    assert parse_html("<a href=telegram.org>t</a>")[1][0]["url"] == "http://telegram.org/"
    assert (
        parse_html('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>')[1][0]["type"] == "custom_emoji"
    )
    # Non-strict mode behaves exactly like Telegram: unknown entities stay literal.
    assert parse_html("a &nbsp; & b &lt c", strict_entities=False)[0] == "a &nbsp; & b < c"
    with pytest.raises(HtmlParseError, match="surrogate"):
        parse_html("&#xD83D;")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_html_accepts_any_properly_escaped_text(text: str) -> None:
    assert parse_html(html_lib.escape(text)) == (text, [])


HTML_PIECES = [*"<>/&;#x1ab= \"'iclpre-😀\n", "&lt;", "&#x41;", "<b>", "</b>", "<pre>", "<code>", "</>"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(HTML_PIECES), max_size=30).map("".join))
def test_parse_html_fails_only_with_parse_errors(markup: str) -> None:
    try:
        visible, entities = parse_html(markup)
    except HtmlParseError:
        return
    for entity in entities:
        assert entity["length"] > 0 and entity["offset"] + entity["length"] <= utf16_len(visible)


def test_text_length_is_measured_after_entity_parsing(fake: FakeTelegram) -> None:
    with_user(fake)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            ok = await bot.send_message(USER, "<b>" + "a" * 4094 + "</b>&amp;b", parse_mode="HTML")
            assert ok.text == "a" * 4094 + "&b"
            with pytest.raises(BadRequest, match="Message is too long"):
                await bot.send_message(USER, "<b>" + "a" * 4095 + "</b>&amp;b", parse_mode="HTML")
            # UTF-16 code units: an emoji counts twice.
            await bot.send_message(USER, "😀" * 2048)
            with pytest.raises(BadRequest, match="Message is too long"):
                await bot.send_message(USER, "😀" * 2048 + "a")
            # Surrounding whitespace is trimmed like Telegram does; empty text is rejected.
            trimmed = await bot.send_message(USER, "  \n" + "a" * 4096 + "\n ")
            assert trimmed.text == "a" * 4096
            with pytest.raises(BadRequest, match="Message text is empty"):
                await bot.send_message(USER, "<b> </b>", parse_mode="HTML")

    run(scenario())
    assert utf16_len("😀") == 2
    fake.expect_error("message is too long")
    fake.expect_error("message text is empty")
    assert len(fake.bot_messages(USER)) == 3


# ------------------------------------------------------------------------------------------- keyboards


def test_callback_data_limits_and_button_presses(fake: FakeTelegram) -> None:
    with_user(fake)
    ok_data = "é" * 32  # 64 bytes in UTF-8
    too_long = "é" * 32 + "x"  # 65 bytes, only 33 characters

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            keyboard = InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton("OK", callback_data=ok_data)],
                    [InlineKeyboardButton("Go", url="https://a.b")],
                ]
            )
            sent = await bot.send_message(USER, "pick", reply_markup=keyboard)
            with pytest.raises(BadRequest, match="Button_data_invalid"):
                await bot.send_message(
                    USER,
                    "pick",
                    reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data=too_long)]]),
                )
            with pytest.raises(BadRequest, match=r"(?i)button url 'localhost' is invalid"):
                await bot.send_message(
                    USER,
                    "pick",
                    reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("x", url="localhost")]]),
                )

            query_id = fake.press_button(USER, USER, sent.message_id, ok_data)
            [update] = await bot.get_updates()
            assert update.callback_query is not None
            assert update.callback_query.id == query_id
            assert update.callback_query.data == ok_data
            assert update.callback_query.message is not None
            assert update.callback_query.message.message_id == sent.message_id
            assert await update.callback_query.answer("done")
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await update.callback_query.answer("again")

    run(scenario())
    assert [c["text"] for c in fake.calls("answerCallbackQuery")] == ["done"]
    with pytest.raises(ValueError, match="no callback button"):
        fake.press_button(USER, USER, 1, "not-on-the-keyboard")
    fake.expect_error("BUTTON_DATA_INVALID")
    fake.expect_error("Wrong HTTP URL")
    fake.expect_error("query is too old")


def test_edit_message_and_not_modified(fake: FakeTelegram) -> None:
    with_user(fake)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="a")]])

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            sent = await bot.send_message(USER, "<b>v1</b>", parse_mode="HTML", reply_markup=keyboard)
            with pytest.raises(BadRequest, match="Message is not modified"):
                await bot.edit_message_text(
                    "<b>v1</b>", USER, sent.message_id, parse_mode="HTML", reply_markup=keyboard
                )
            edited = await bot.edit_message_text("<i>v2</i>", USER, sent.message_id, parse_mode="HTML")
            assert isinstance(edited, telegram.Message)
            assert edited.text == "v2" and edited.reply_markup is None and edited.edit_date is not None
            await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard)
            with pytest.raises(BadRequest, match="Message is not modified"):
                await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard)
            with pytest.raises(BadRequest, match="Message to edit not found"):
                await bot.edit_message_text("x", USER, 999)
            assert await bot.delete_message(USER, sent.message_id)
            with pytest.raises(BadRequest, match="Message to delete not found"):
                await bot.delete_message(USER, sent.message_id)

    run(scenario())
    [record] = fake.bot_messages(USER)
    assert record.text == "v2" and record.deleted
    assert [e["text"] for e in record.edits] == ["v1", "v2"]
    assert record.callback_data == ["a"]
    fake.expect_error("message is not modified")
    fake.expect_error("message to edit not found")
    fake.expect_error("message to delete not found")


# ------------------------------------------------------------------------------------------- chats


def test_unknown_chat_replies_threads_and_forbidden(fake: FakeTelegram) -> None:
    with_user(fake)
    fake.add_chat(GROUP, "supergroup", "Group")
    fake.add_chat(FORUM, "supergroup", "Forum", is_forum=True)
    topic = fake.add_topic(FORUM, "Papers")
    question = fake.user_says(GROUP, USER, "question")

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            with pytest.raises(BadRequest, match="Chat not found"):
                await bot.send_message(123456, "hello")
            with pytest.raises(BadRequest, match="Message to be replied not found"):
                await bot.send_message(GROUP, "hi", reply_parameters=ReplyParameters(message_id=999))
            lenient = await bot.send_message(
                GROUP, "hi", reply_parameters=ReplyParameters(999, allow_sending_without_reply=True)
            )
            assert lenient.reply_to_message is None
            reply = await bot.send_message(GROUP, "answer", reply_to_message_id=question["message_id"])
            assert reply.reply_to_message is not None and reply.reply_to_message.text == "question"
            with pytest.raises(BadRequest, match="Message thread not found"):
                await bot.send_message(GROUP, "t", message_thread_id=5)
            with pytest.raises(BadRequest, match="Message thread not found"):
                await bot.send_message(FORUM, "t", message_thread_id=topic + 100)
            in_topic = await bot.send_message(FORUM, "t", message_thread_id=topic)
            assert in_topic.message_thread_id == topic and in_topic.is_topic_message
            assert await bot.send_chat_action(USER, "typing")
            with pytest.raises(BadRequest, match="Wrong parameter action"):
                await bot.send_chat_action(USER, "dancing")
            fake.block_bot(USER)
            with pytest.raises(Forbidden, match="blocked"):
                await bot.send_message(USER, "still there?")

    run(scenario())
    assert [m.reply_to for m in fake.bot_messages(GROUP)] == [None, question["message_id"]]
    assert fake.calls("sendChatAction") == [{"chat_id": USER, "action": "typing"}]
    for description in ("chat not found", "replied not found", "thread not found", "wrong parameter action"):
        fake.expect_error(description)
    fake.expect_error("blocked by the user")


def test_admins_members_and_anonymous_admins(fake: FakeTelegram) -> None:
    with_user(fake)
    fake.add_user(7, "Owner", "owner")
    fake.add_user(8, "Shy", "shy_admin")
    fake.add_chat(GROUP, "supergroup", "Group")
    fake.set_admins(GROUP, [8, fake.bot_id], owner=7, anonymous_admin=8)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            admins = await bot.get_chat_administrators(GROUP)
            assert admins[0].status == "creator"
            assert {a.user.id for a in admins} == {7, 8, fake.bot_id}
            shy = next(a for a in admins if a.user.id == 8)
            assert isinstance(shy, telegram.ChatMemberAdministrator) and shy.is_anonymous
            assert (await bot.get_chat_member(GROUP, USER)).status == "left"
            fake.user_says(GROUP, USER, "hi all")
            assert (await bot.get_chat_member(GROUP, USER)).status == "member"
            with pytest.raises(BadRequest, match="There are no administrators in the private chat"):
                await bot.get_chat_administrators(USER)
            fake.user_says(GROUP, 8, "/start@VerbatimTestBot", anonymous=True)
            updates = await bot.get_updates()
            message = message_of(updates[-1])
            assert message.from_user is not None and message.sender_chat is not None
            assert message.from_user.id == GROUP_ANONYMOUS_BOT_ID
            assert message.from_user.username == "GroupAnonymousBot"
            assert message.sender_chat.id == GROUP
            assert message.entities[0].type == "bot_command"
            assert message.entities[0].length == len("/start@VerbatimTestBot")
            chat = await bot.get_chat(GROUP)
            assert chat.title == "Group" and chat.type == "supergroup"

    run(scenario())
    fake.expect_error("no administrators in the private chat")


def test_user_replies_forwards_and_privacy_mode() -> None:
    with FakeTelegram(privacy_mode=True) as server:
        with_user(server)
        server.add_user(7, "Bob", "bob")
        server.add_chat(GROUP, "supergroup", "Group")

        async def scenario() -> None:
            async with make_bot(server) as bot:
                assert not (await bot.get_me()).can_read_all_group_messages
                sent = await bot.send_message(GROUP, "<b>Summary</b>", parse_mode="HTML")
                server.user_says(GROUP, USER, "chatter the bot must not see")
                server.user_says(GROUP, USER, "/ask@SomeOtherBot hidden too")
                server.user_says(GROUP, USER, "a reply", reply_to=sent.message_id)
                server.user_says(GROUP, USER, "/ask what? @bob", forward_origin=7)
                updates = await bot.get_updates()
                reply, command = (message_of(u) for u in updates)
                assert reply.reply_to_message is not None
                assert reply.reply_to_message.from_user is not None
                assert reply.reply_to_message.from_user.id == server.bot_id
                assert reply.reply_to_message.text == "Summary"
                assert reply.reply_to_message.entities[0].type == "bold"
                assert [(e.type, command.parse_entity(e)) for e in command.entities] == [
                    ("bot_command", "/ask"),
                    ("mention", "@bob"),
                ]
                assert isinstance(command.forward_origin, telegram.MessageOriginUser)
                assert command.forward_origin.sender_user.id == 7

        run(scenario())
        assert [m["text"] for m in server.undelivered] == [
            "chatter the bot must not see",
            "/ask@SomeOtherBot hidden too",
        ]
        server.assert_no_unexpected_errors()


def test_commands_are_validated_and_recorded_per_scope(fake: FakeTelegram) -> None:
    fake.add_chat(GROUP, "supergroup", "Group")

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            assert await bot.set_my_commands([("start", "Start"), ("ask", "Ask a question")])
            assert await bot.set_my_commands(
                [("fragen", "Frage stellen")],
                scope=telegram.BotCommandScopeAllGroupChats(),
                language_code="de",
            )
            assert [c.command for c in await bot.get_my_commands()] == ["start", "ask"]
            german = await bot.get_my_commands(
                scope=telegram.BotCommandScopeAllGroupChats(), language_code="de"
            )
            assert [c.command for c in german] == ["fragen"]
            with pytest.raises(BadRequest, match="Bot_command_invalid"):
                await bot.set_my_commands([("Start", "uppercase is invalid")])
            with pytest.raises(BadRequest, match="Bot_command_invalid"):
                await bot.set_my_commands([("/start", "no slash")])
            with pytest.raises(BadRequest, match="Bot_command_description_invalid"):
                await bot.set_my_commands([("start", "x" * 257)])
            assert await bot.delete_my_commands()
            assert await bot.get_my_commands() == ()

    run(scenario())
    assert fake.commands({"type": "all_group_chats"}, "de") == [
        {"command": "fragen", "description": "Frage stellen"}
    ]
    assert len(fake.calls("setMyCommands")) == 2
    fake.expect_error("BOT_COMMAND_INVALID")
    fake.expect_error("BOT_COMMAND_DESCRIPTION_INVALID")


# ------------------------------------------------------------------------------------------- updates


def test_get_updates_long_polls(fake: FakeTelegram) -> None:
    with_user(fake)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            pusher = threading.Timer(0.5, fake.user_says, args=(USER, USER, "hello"))
            started = time.monotonic()
            pusher.start()
            try:
                updates = await bot.get_updates(timeout=5)
            finally:
                pusher.join()
            elapsed = time.monotonic() - started
            assert [message_of(u).text for u in updates] == ["hello"]
            assert 0.4 <= elapsed < 2.0, elapsed

            started = time.monotonic()
            assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == ()
            elapsed = time.monotonic() - started
            assert 0.9 <= elapsed < 2.0, elapsed

    run(scenario())


def test_get_updates_offset_limit_and_negative_offset(fake: FakeTelegram) -> None:
    with_user(fake)
    for text in ("one", "two", "three", "four"):
        fake.user_says(USER, USER, text)

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            first = await bot.get_updates(limit=2)
            assert [message_of(u).text for u in first] == ["one", "two"]
            # Without confirming, the same updates come again.
            assert [u.update_id for u in await bot.get_updates(limit=2)] == [u.update_id for u in first]
            rest = await bot.get_updates(offset=first[-1].update_id + 1)
            assert [message_of(u).text for u in rest] == ["three", "four"]
            assert len(fake.pending_updates()) == 2  # "one" and "two" are confirmed and gone
            fake.user_says(USER, USER, "five")
            last = await bot.get_updates(offset=-1)
            assert [message_of(u).text for u in last] == ["five"]
            assert [u["message"]["text"] for u in fake.pending_updates()] == ["five"]

    run(scenario())


def test_stop_releases_a_pending_long_poll() -> None:
    server = FakeTelegram().start()
    result: dict[str, Any] = {}

    def poll() -> None:
        with httpx.Client(timeout=30) as client:
            result["body"] = client.post(
                f"{server.base_url}{server.token}/getUpdates", data={"timeout": "30"}
            ).json()

    poller = threading.Thread(target=poll)
    poller.start()
    server.wait_until(lambda: server._poll_generation > 0, timeout=5, what="the long poll to start")
    started = time.monotonic()
    server.stop()
    poller.join(5)
    assert not poller.is_alive()
    assert time.monotonic() - started < 2
    assert result["body"] == {"ok": True, "result": []}
    assert not [t for t in threading.enumerate() if t.name.startswith("fake-telegram")]


# ------------------------------------------------------------------------------------------- files


def test_file_round_trip(fake: FakeTelegram) -> None:
    with_user(fake)
    payload = bytes(range(256)) * 40
    sent = fake.user_sends_document(USER, USER, payload, "paper.pdf", "application/pdf", caption="/ask what?")

    async def scenario() -> None:
        async with make_bot(fake) as bot:
            [update] = await bot.get_updates()
            document = message_of(update).document
            assert document is not None
            assert document.file_name == "paper.pdf" and document.file_size == len(payload)
            assert message_of(update).caption_entities[0].type == "bot_command"
            file = await document.get_file()
            assert (file.file_path or "").startswith(fake.base_file_url)
            assert bytes(await file.download_as_bytearray()) == payload
            with pytest.raises(BadRequest, match="Invalid file_id"):
                await bot.get_file("nope")
            # The bot can upload a document too; its bytes are kept for inspection.
            await bot.send_document(
                USER, b"transcript", filename="t.txt", caption="<b>Done</b>", parse_mode="HTML"
            )

    run(scenario())
    assert sent["document"]["mime_type"] == "application/pdf"
    [upload] = fake.bot_messages(USER)
    assert upload.method == "sendDocument" and upload.document_bytes == b"transcript"
    assert upload.text == "Done" and (upload.document or {}).get("file_name") == "t.txt"
    fake.expect_error("invalid file_id")


# ------------------------------------------------------------------------------------------- fixture


def test_fixture_fails_on_unacknowledged_errors() -> None:
    async def provoke(server: FakeTelegram) -> None:
        async with make_bot(server) as bot:
            with pytest.raises(BadRequest):
                await bot.send_message(USER, "x" * 5000)

    session = fake_telegram_session()
    server = next(session)
    with_user(server)
    run(provoke(server))
    with pytest.raises(UnexpectedTelegramErrors, match="message is too long"):
        next(session)  # teardown
    assert server.port and server._httpd is None  # stopped before failing

    session = fake_telegram_session()
    server = next(session)
    with_user(server)
    run(provoke(server))
    server.expect_error("message is too long")
    with pytest.raises(StopIteration):
        next(session)  # acknowledged: teardown passes


def test_wait_for_bot_messages_times_out_with_context(fake: FakeTelegram) -> None:
    with_user(fake)
    with pytest.raises(FakeTelegramTimeout, match="waiting for 1 new bot message"):
        fake.wait_for_bot_messages(USER, timeout=0.05)


# ------------------------------------------------------------------------------------------- PTB app


def test_application_replies_to_start(fake: FakeTelegram) -> None:
    with_user(fake)
    threads_before = set(threading.enumerate())

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        await update.effective_message.reply_html(
            f"Hello, <b>{update.effective_user.first_name}</b>!", do_quote=True
        )

    async def scenario() -> None:
        app: Application = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .build()
        )
        app.add_handler(CommandHandler("start", start))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                command = fake.user_says(USER, USER, "/start")
                [reply] = await fake.async_wait_for_bot_messages(USER, timeout=5)
                assert reply.text == "Hello, Ada!"
                assert reply.entity_texts("bold") == ["Ada"]
                assert reply.reply_to == command["message_id"]
                # A command addressed to another bot is ignored by PTB.
                fake.user_says(USER, USER, "/start@SomeOtherBot")
                addressed = fake.user_says(USER, USER, "/start@VerbatimTestBot")
                [second] = await fake.async_wait_for_bot_messages(USER, timeout=5)
                assert second.reply_to == addressed["message_id"]
            finally:
                await app.updater.stop()
                await app.stop()

    started = time.monotonic()
    run(scenario())
    assert time.monotonic() - started < 5
    assert len(fake.bot_messages(USER)) == 2
    assert fake.calls("deleteWebhook")  # start_polling
    assert not fake.unexpected_errors()
    leaked = [
        t for t in threading.enumerate() if t not in threads_before and not t.name.startswith("fake-telegram")
    ]
    assert not leaked
