"""The Telegram bot end to end: the real Application over HTTP against the fake Bot API, the real model.

Each test builds the bot on an isolated data dir whose library uses the session's embedder (so the
model loads once), runs it by long polling inside the test's event loop, and talks to it as users do.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes
from verbatim.bot.engine import Engine
from verbatim.bot.settings import Settings
from verbatim.bot.telegram.access import collection_for
from verbatim.bot.telegram.app import build_application
from verbatim.bot.telegram.render import ADDING, SORRY, TELEGRAM_LIMIT
from verbatim.bot.telegram.serve import running
from verbatim.index.embedder import SentenceTransformerEmbedder
from verbatim.index.ingest import draft_from_text
from verbatim.index.models import Article, ArticleDraft, ArticleSummary
from verbatim.index.segment import MAX_SENTENCE_CHARS
from verbatim.retrieval import reading

from tests.conftest import SEED_ARTICLE
from tests.fake_telegram import (
    GROUP_ANONYMOUS_BOT_ID,
    BotMessage,
    FakeTelegram,
    FakeTelegramTimeout,
    utf16_len,
)
from tests.sites import FakeSite
from tests.telegram_cast import ADMIN, ANON_ADMIN, GROUP, OTHER, USER

pytestmark = pytest.mark.slow  # the real model

FORUM = -1009876543210
QUESTION = "why was the delegation cancelled?"
SEED_TITLE = "Netanyahu sending delegation to White House for talks on Rafah attack"


def cites_the_veto(text: str | None) -> bool:
    return text is not None and ("refused to veto" in text or "failure to veto" in text)


# -- harness --------------------------------------------------------------------------------------------


@dataclass
class Bot:
    """The running bot as a test sees it: the fake server, the engine and the application."""

    fake: FakeTelegram
    engine: Engine
    app: Application  # type: ignore[type-arg]

    def seed(self, chat_id: int, draft: ArticleDraft | None = None) -> Article:
        draft = draft or draft_from_text(SEED_ARTICLE.read_text(encoding="utf-8"), max_chars=1_000_000)
        return self.engine.add(collection_for(chat_id), draft).article

    def articles(self, chat_id: int) -> list[ArticleSummary]:
        return self.engine.list_articles(collection_for(chat_id))

    async def replies(self, chat_id: int, count: int = 1, timeout: float = 20) -> list[BotMessage]:
        """The next `count` bot messages in the chat, once any "Adding…" among them shows its result."""
        messages = await self.fake.async_wait_for_bot_messages(chat_id, count, timeout=timeout)
        for message in messages:
            if message.text == ADDING:
                await self.fake.async_wait_until(
                    lambda: self.fake.bot_message(chat_id, message.message_id).text != ADDING,  # noqa: B023
                    timeout=timeout,
                    what="the result of adding",
                )
        return [self.fake.bot_message(chat_id, m.message_id) for m in messages]

    async def reply(self, chat_id: int, timeout: float = 20) -> BotMessage:
        [message] = await self.replies(chat_id, 1, timeout)
        return message

    async def burst(self, chat_id: int, quiet: float = 0.5) -> list[BotMessage]:
        """The next bot messages until none follows for `quiet` seconds (a reply split in parts)."""
        messages = await self.replies(chat_id)
        while True:
            try:
                messages += await self.replies(chat_id, timeout=quiet)
            except FakeTelegramTimeout:
                return messages

    async def silence(self, chat_id: int, seconds: float = 0.4) -> None:
        """Nothing more is said in the chat for `seconds`."""
        with pytest.raises(FakeTelegramTimeout):
            await self.fake.async_wait_for_bot_messages(chat_id, timeout=seconds)


Scenario = Callable[[Bot], Awaitable[None]]


@pytest.fixture
def make_engine(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, fake: FakeTelegram
) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(**overrides: Any) -> Engine:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"data{len(engines)}",
            "telegram_token": fake.token,
            "telegram_base_url": fake.base_url,
            "telegram_base_file_url": fake.base_file_url,
            # Tests talk faster than Telegram allows; the limiter is exercised, just not binding.
            "rate_limit_overall_per_s": 1000,
            "rate_limit_group_per_min": 10_000,
            "allow_private_urls": True,
            "fetch_timeout_s": 5.0,
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        # The engine as production builds it, but on the session's model (loaded once for all tests).
        engine = Engine(settings, embedder)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def play(
    fake: FakeTelegram,
    engine: Engine,
    scenario: Scenario,
    setup: Callable[[Application], None] | None = None,  # type: ignore[type-arg]
) -> None:
    async def main() -> None:
        app = build_application(engine.settings, engine)
        if setup is not None:
            setup(app)
        async with running(app, engine.settings, poll_timeout=1):
            await scenario(Bot(fake, engine, app))

    asyncio.run(main())


def quoted(message: BotMessage) -> list[str]:
    return message.entity_texts("blockquote")


# -- private chats --------------------------------------------------------------------------------------


def test_private_question_is_answered_with_the_quote(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, "/start")
        start = await bot.reply(USER)
        assert "Add your first article" in (start.text or "") and start.parse_mode == "HTML"
        bot.seed(USER)
        fake.user_says(USER, USER, QUESTION)
        answer = await bot.reply(USER)
        assert cites_the_veto(quoted(answer)[0])
        assert f"[1] {SEED_TITLE}" in (answer.text or "")
        assert answer.parse_mode == "HTML" and "<blockquote>" in (answer.raw_text or "")
        assert answer.link_preview_options == {"is_disabled": True}
        assert answer.reply_to is None  # private chats need no quoting
        [data] = answer.callback_data
        assert data.startswith("src:")
        assert {"chat_id": USER, "action": "typing"}.items() <= fake.calls("sendChatAction")[-1].items()

    play(fake, engine, scenario)
    for scope in ("all_private_chats", "all_group_chats", "all_chat_administrators"):
        names = [c["command"] for c in fake.commands({"type": scope})]
        assert "ask" in names and "add" in names
        assert ("delete" in names) == (scope != "all_group_chats")


def test_a_long_pasted_text_is_added_not_asked(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, SEED_ARTICLE.read_text(encoding="utf-8"))
        added = await bot.reply(USER)
        assert "Added" in (added.text or "") and SEED_TITLE in (added.text or "")
        fake.user_says(USER, USER, QUESTION)
        assert cites_the_veto(quoted(await bot.reply(USER))[0])

    play(fake, engine, scenario)


def test_chats_do_not_share_articles(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        bot.seed(USER)
        fake.user_says(OTHER, OTHER, QUESTION)
        empty = await bot.reply(OTHER)
        assert "There are no articles here yet." in (empty.text or "") and not empty.callback_data
        fake.user_says(OTHER, OTHER, "/list")
        assert "There are no articles here yet." in ((await bot.reply(OTHER)).text or "")
        fake.user_says(USER, USER, "/list")
        listing = await bot.reply(USER)
        assert (listing.text or "").startswith(f"1. {SEED_TITLE} — 23 sentences")
        fake.user_says(OTHER, OTHER, "/delete 1")
        refused = await bot.reply(OTHER)
        assert "There is no article number 1" in (refused.text or "")
        assert len(bot.articles(USER)) == 1

    play(fake, engine, scenario)


def test_html_in_articles_round_trips_escaped(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()
    title = 'Tags <b> & "quotes" in <i>titles</i>'
    sentence = 'The council said "5 < 6 & 7 > 3" was the <b>new</b> rule for the harbour & the quay.'
    article = f"{title}\n\n{sentence} Nobody else was asked about the rule. Fishing boats still moor there."

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, f"/add {article}")
        added = await bot.reply(USER)
        assert added.text == f"Added “{title}” (4 sentences)."  # the title line is one
        fake.user_says(USER, USER, "What did the council say was the new rule for the harbour?")
        answer = await bot.reply(USER)
        assert quoted(answer) == [f"{sentence} [1]"]
        assert f"[1] {title} · sentence 2 of 4" in (answer.text or "")
        fake.user_says(USER, USER, "/list")
        assert (await bot.reply(USER)).text.startswith(f"1. {title} — 4 sentences")  # type: ignore[union-attr]

    play(fake, engine, scenario)


def test_a_question_without_an_answer_says_so(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        bot.seed(USER)
        fake.user_says(USER, USER, "Who won the 2022 football World Cup?")
        reply = await bot.reply(USER)
        assert (reply.text or "").startswith(
            "I couldn't find an answer to that in the articles of this chat."
        )
        assert "Add an article that covers it" in (reply.text or "")
        assert not reply.callback_data

    play(fake, engine, scenario)


def test_a_refusal_that_came_close_shows_the_closest_passage(
    fake: FakeTelegram, make_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where the lead starts is a fitted figure; from 0 every refusal with candidates shows one.
    fitted = reading.fitted_model()
    monkeypatch.setattr(reading, "fitted_model", lambda: replace(fitted, min_lead_confidence=0.0))
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        bot.seed(USER)
        fake.user_says(USER, USER, "How much humanitarian aid did the US send to Gaza?")
        reply = await bot.reply(USER)
        text = reply.text or ""
        assert text.startswith("I couldn't find an answer") and "which may not answer it" in text
        [lead] = quoted(reply)
        assert lead in SEED_ARTICLE.read_text(encoding="utf-8")
        assert SEED_TITLE in text and reply.callback_data
        fake.press_button(USER, USER, reply.message_id, text="Sources")
        context = await bot.reply(USER)
        assert lead in (context.text or "")

    play(fake, engine, scenario)


def test_an_answer_too_long_for_one_message_is_cut_to_fit(fake: FakeTelegram, make_engine: Any) -> None:
    # Titles have no limit (JSONL imports, web pages): one this long makes the answer over 4096.
    engine = make_engine()
    title = "Rafah & <the> delegation: " + "a very long title " * 300

    async def scenario(bot: Bot) -> None:
        bot.seed(USER, ArticleDraft(text=SEED_ARTICLE.read_text(encoding="utf-8"), title=title))
        fake.user_says(USER, USER, QUESTION)
        parts = await bot.burst(USER)
        assert all(0 < utf16_len(p.text or "") <= TELEGRAM_LIMIT for p in parts)
        first = quoted(parts[0])[0]
        assert cites_the_veto(first) and first.endswith(" [1]") and "…" not in first  # the quote is whole
        assert "[1] Rafah & <the> delegation: a very long title" in (parts[0].text or "")
        assert "…" in (parts[0].text or "").split("[1] ", 1)[1]  # the title was shortened
        assert parts[0].callback_data

    play(fake, engine, scenario)


def test_sources_button_and_command_show_the_context(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        article = bot.seed(USER)
        fake.user_says(USER, USER, QUESTION)
        answer = await bot.reply(USER)
        query = fake.press_button(USER, USER, answer.message_id, text="Sources")
        context = await bot.reply(USER)
        assert fake.callback_answer(query) is not None
        assert context.reply_to == answer.message_id
        assert (context.text or "").startswith(SEED_TITLE)
        cited = context.entity_texts("bold")
        assert any(cites_the_veto(b) for b in cited)
        # One block a quote; the one around the veto sentence holds its neighbours too.
        assert len(quoted(context)) == len(quoted(answer))
        block = next(b for b in quoted(context) if cites_the_veto(b))
        assert len(block) > len(next(b for b in cited if cites_the_veto(b)))
        fake.user_says(USER, USER, "/sources")
        again = await bot.reply(USER)
        assert again.text == context.text

        engine.delete(collection_for(USER), article.id)
        stale = fake.press_button(USER, USER, answer.message_id, text="Sources")
        await fake.async_wait_until(lambda: fake.callback_answer(stale), what="the stale button's answer")
        assert "deleted" in (fake.callback_answer(stale) or {}).get("text", "")
        await bot.silence(USER)

    play(fake, engine, scenario)


def test_long_context_and_long_lists_are_split(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()
    # Neighbours of the quoted sentence as long as a sentence may be, in letters outside the BMP (two
    # UTF-16 units each): with them the context is over 4096 units.
    letters = "𝐰𝐚𝐯𝐞𝐬𝐩𝐢𝐞𝐫𝐪𝐮𝐚𝐲𝐬𝐭𝐨𝐫𝐦"
    long_line = (
        " ".join(letters[k % 7 :] + letters[: k % 7] for k in range(70))[: MAX_SENTENCE_CHARS - 10] + "."
    )
    seed = SEED_ARTICLE.read_text(encoding="utf-8").split("\n")
    at = next(n for n, line in enumerate(seed) if "refused to veto" in line)
    text = "\n".join([*seed[:at], long_line, seed[at], long_line.upper(), *seed[at + 1 :]])
    fillers = [
        ArticleDraft(text=f"Filler article {n} about nothing.", title=f"Filler {n} " + "x" * 150)
        for n in range(40)
    ]

    async def scenario(bot: Bot) -> None:
        bot.seed(USER, draft_from_text(text, max_chars=1_000_000))
        list(engine.add_many(collection_for(USER), fillers))
        fake.user_says(USER, USER, QUESTION)
        answer = await bot.reply(USER)
        assert cites_the_veto(quoted(answer)[0])
        fake.press_button(USER, USER, answer.message_id, text="Sources")
        context = await bot.burst(USER)
        assert len(context) >= 2 and all(0 < utf16_len(m.text or "") <= TELEGRAM_LIMIT for m in context)
        assert any(cites_the_veto(b) for m in context for b in m.entity_texts("bold"))
        assert all(m.entity_texts("blockquote") for m in context)  # the quote block is reopened
        fake.user_says(USER, USER, "/list")
        listing = await bot.burst(USER)
        lines = "\n".join(m.text or "" for m in listing).split("\n")
        assert len(listing) >= 2 and all(0 < utf16_len(m.text or "") <= TELEGRAM_LIMIT for m in listing)
        assert [line.split(".")[0] for line in lines] == [str(n) for n in range(1, 42)]

    play(fake, engine, scenario)


def test_documents_are_added_or_refused_clearly(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine(max_article_chars=5_000)
    seed = SEED_ARTICLE.read_bytes()

    async def scenario(bot: Bot) -> None:
        fake.user_sends_document(USER, USER, seed, "rafah.txt", "text/plain")
        added = await bot.reply(USER)
        assert added.text == f"Added “{SEED_TITLE}” (23 sentences)."
        fake.user_sends_document(
            USER, USER, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, "photo.txt", "text/plain"
        )
        assert (
            await bot.reply(USER)
        ).text == "photo.txt is a binary file, not text. Send a .txt, .md or .html file."
        downloads = len(fake.calls("getFile"))
        fake.user_sends_document(USER, USER, b"%PDF-1.4 ...", "paper.pdf", "application/pdf")
        assert (await bot.reply(USER)).text == "paper.pdf: I can read .txt, .md and .html files, not .pdf."
        fake.user_sends_document(USER, USER, b"Word. " * 5_000, "huge.txt", "text/plain")
        assert (await bot.reply(USER)).text == (
            "huge.txt is too large (30 KB; the limit is 20 KB). Split it into smaller articles."
        )
        assert len(fake.calls("getFile")) == downloads  # both refused before downloading
        fake.user_says(USER, USER, QUESTION)
        assert cites_the_veto(quoted(await bot.reply(USER))[0])

    play(fake, engine, scenario)


def test_a_forwarded_channel_post_is_added_and_cited_with_its_link(
    fake: FakeTelegram, make_engine: Any
) -> None:
    engine = make_engine()
    channel = {"id": -1005550001, "type": "channel", "title": "Porthaven Gazette", "username": "porthaven"}
    post = (
        "North pier closes after storm damage\n\n"
        "The harbour authority closed the old north pier on Tuesday after engineers found that storms "
        "had washed away the stone beneath its deck. "
        "Repairs will cost about 4.2 million euros and take two years."
    )

    async def scenario(bot: Bot) -> None:
        origin = {"type": "channel", "chat": channel, "message_id": 77}
        fake.user_says(USER, USER, post, forward_origin=origin)
        added = await bot.reply(USER)
        assert added.text == "Added “Porthaven Gazette: North pier closes after storm damage” (3 sentences)."
        [article] = bot.articles(USER)
        assert article.url == "https://t.me/porthaven/77" and article.source == "telegram"
        fake.user_says(USER, USER, post, forward_origin=origin)
        assert (
            await bot.reply(USER)
        ).text == "Already there: “Porthaven Gazette: North pier closes after storm damage”."
        fake.user_says(USER, USER, "How much will the repairs of the pier cost?")
        answer = await bot.reply(USER)
        assert "4.2 million euros" in quoted(answer)[0]
        assert {"https://t.me/porthaven/77"} == {
            e.get("url") for e in answer.entities if e["type"] == "text_link"
        }

    play(fake, engine, scenario)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>North pier to close | Porthaven Gazette</title>
<meta property="og:title" content="North pier to close after storm damage"></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>North pier to close after storm damage</h1>
<p>The harbour authority in Porthaven voted on Tuesday to close the old north pier to all traffic after
engineers found that storms had washed away much of the stone beneath its deck.</p>
<p>The pier, built in 1887, has carried fishing boats and summer ferries for more than a century. An
inspection in February found cracks up to forty centimetres wide along its seaward side.</p>
<p>Fishermen who moor at the pier will move to temporary berths at the south quay from next month. The
authority estimates that repairs will cost about 4.2 million euros and take two years.</p>
<p>A public meeting on the repair plans will be held at the town hall on 14 March.</p>
</article><footer>Copyright 2024 Porthaven Gazette</footer></body></html>"""


def test_links_are_fetched_and_slow_ones_do_not_hold_up_other_chats(
    fake: FakeTelegram, make_engine: Any
) -> None:
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        with FakeSite() as site:
            url = site.route("/news/north-pier", PAGE)
            slow = site.route("/slow", PAGE.replace("Tuesday", "Wednesday"), delay_s=1.5)
            fake.user_says(USER, USER, url)
            [status] = await fake.async_wait_for_bot_messages(USER)
            assert status.text == ADDING  # said at once, then replaced by the result
            await fake.async_wait_until(lambda: fake.bot_message(USER, status.message_id).edited)
            assert fake.bot_message(USER, status.message_id).text == (
                "Added “North pier to close after storm damage” (6 sentences)."
            )
            fake.user_says(USER, USER, "When will the public meeting be held?")
            answer = await bot.reply(USER)
            assert "14 March" in quoted(answer)[0]
            assert url in {e.get("url") for e in answer.entities}

            # In a group, a link is added only when asked with /add.
            fake.user_says(GROUP, USER, url)
            fake.user_says(GROUP, OTHER, f"/add {slow}")
            [pending] = await fake.async_wait_for_bot_messages(GROUP)
            fake.user_says(OTHER, OTHER, "/help")  # served while the group's article is still loading
            await bot.reply(OTHER)
            assert fake.bot_message(GROUP, pending.message_id).text == ADDING
            await fake.async_wait_until(
                lambda: fake.bot_message(GROUP, pending.message_id).edited, timeout=10
            )
            assert fake.bot_message(GROUP, pending.message_id).text.startswith("Added “North pier")  # type: ignore[union-attr]
            assert len(fake.bot_messages(GROUP)) == 1

            fake.user_says(USER, USER, site.url("/missing"))
            [failed] = await fake.async_wait_for_bot_messages(USER)
            await fake.async_wait_until(lambda: fake.bot_message(USER, failed.message_id).edited)
            assert "404" in (fake.bot_message(USER, failed.message_id).text or "")

    play(fake, engine, scenario)


# -- groups ---------------------------------------------------------------------------------------------


def test_group_bot_speaks_only_when_addressed(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()

    async def scenario(bot: Bot) -> None:
        bot.seed(GROUP)
        fake.user_says(GROUP, USER, QUESTION)
        fake.user_says(GROUP, USER, "https://example.org/some/article")
        fake.user_sends_document(GROUP, USER, SEED_ARTICLE.read_bytes(), "a.txt", "text/plain")
        fake.user_says(GROUP, USER, f"/ask@OtherBot {QUESTION}")
        fake.user_says(GROUP, USER, "@ada what do you think?")
        await bot.silence(GROUP, 0.8)
        assert not [c for c in fake.calls() if c.get("chat_id") == GROUP]

        asked = fake.user_says(GROUP, USER, f"/ask@VerbatimTestBot {QUESTION}")
        answer = await bot.reply(GROUP)
        assert answer.reply_to == asked["message_id"] and cites_the_veto(quoted(answer)[0])

        plain = fake.user_says(GROUP, OTHER, f"/ask {QUESTION}")
        assert (await bot.reply(GROUP)).reply_to == plain["message_id"]

        mention = fake.user_says(GROUP, USER, "@verbatimtestbot, why was the delegation cancelled?")
        by_mention = await bot.reply(GROUP)
        assert by_mention.reply_to == mention["message_id"] and cites_the_veto(quoted(by_mention)[0])

        follow_up = fake.user_says(
            GROUP, OTHER, "And why was the delegation cancelled?", reply_to=answer.message_id
        )
        reply = await bot.reply(GROUP)
        assert reply.reply_to == follow_up["message_id"] and cites_the_veto(quoted(reply)[0])

        # How people ask in a group, in words the article does not use: answered, not refused.
        fake.user_says(GROUP, OTHER, "/ask what did Kirby say?")
        kirby = await bot.reply(GROUP)
        assert "Kirby told reporters" in quoted(kirby)[0]
        await bot.silence(GROUP)
        assert len(fake.bot_messages(GROUP)) == 5

    play(fake, engine, scenario)


def test_only_admins_delete_in_groups(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()
    fake.set_admins(GROUP, [ADMIN, ANON_ADMIN], anonymous_admin=ANON_ADMIN)

    async def scenario(bot: Bot) -> None:
        bot.seed(GROUP)
        for n in range(2):
            bot.seed(GROUP, ArticleDraft(text=f"Short note number {n}. It says little.", title=f"Note {n}"))
        fake.user_says(GROUP, USER, "/delete 1")
        refused = await bot.reply(GROUP)
        assert refused.text == "Only the group's admins can delete articles."
        assert len(bot.articles(GROUP)) == 3
        fake.user_says(GROUP, ADMIN, "/delete 1")
        confirm = await bot.reply(GROUP)
        assert confirm.text == f"Delete “{SEED_TITLE}”?"
        fake.press_button(GROUP, ADMIN, confirm.message_id, text="Delete")
        await fake.async_wait_until(
            lambda: fake.bot_message(GROUP, confirm.message_id).text == f"Deleted “{SEED_TITLE}”.",
            what="the deletion",
        )
        fake.user_says(GROUP, ANON_ADMIN, "/delete@VerbatimTestBot 1", anonymous=True)
        confirm = await bot.reply(GROUP)
        assert confirm.text == "Delete “Note 0”?"
        # An anonymous admin presses as the person they are; set_admins made them an admin.
        fake.press_button(GROUP, ANON_ADMIN, confirm.message_id, text="Delete")
        await fake.async_wait_until(
            lambda: fake.bot_message(GROUP, confirm.message_id).text == "Deleted “Note 0”.",
            what="the deletion",
        )
        assert [a.title for a in bot.articles(GROUP)] == ["Note 1"]
        # Adding is open to members by default.
        fake.user_says(GROUP, USER, "/add A member's note. It is short but it counts.")
        assert (await bot.reply(GROUP)).text.startswith("Added “A member")  # type: ignore[union-attr]

    play(fake, engine, scenario)
    assert GROUP_ANONYMOUS_BOT_ID not in {c.get("user_id") for c in fake.calls("getChatMember")}


def test_group_adding_can_be_for_admins_only(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine(group_add="admins")
    fake.set_admins(GROUP, [ADMIN])

    async def scenario(bot: Bot) -> None:
        message = fake.user_says(GROUP, USER, "A member's note. It is short.")
        fake.user_says(GROUP, USER, "/add", reply_to=message["message_id"])
        assert (await bot.reply(GROUP)).text == "Only the group's admins can add articles here."
        fake.user_says(GROUP, ADMIN, "/add", reply_to=message["message_id"])
        assert (await bot.reply(GROUP)).text == "Added “A member's note. It is short.” (2 sentences)."
        fake.user_sends_document(
            GROUP, ADMIN, SEED_ARTICLE.read_bytes(), "seed.md", "text/markdown", caption="/add"
        )
        assert (await bot.reply(GROUP)).text == f"Added “{SEED_TITLE}” (23 sentences)."
        assert len(bot.articles(GROUP)) == 2

    play(fake, engine, scenario)


def test_forum_topics_get_answers_in_their_thread(fake: FakeTelegram, make_engine: Any) -> None:
    engine = make_engine()
    fake.add_chat(FORUM, "supergroup", "Forum", is_forum=True)
    topic = fake.add_topic(FORUM, "Middle East")

    async def scenario(bot: Bot) -> None:
        bot.seed(FORUM)
        # The topic was opened by the bot: messages in it are not replies to the bot.
        fake.user_says(FORUM, USER, "just chatting in the topic", thread_id=topic)
        asked = fake.user_says(FORUM, USER, f"/ask {QUESTION}", thread_id=topic)
        answer = await bot.reply(FORUM)
        assert answer.thread_id == topic and answer.reply_to == asked["message_id"]
        assert cites_the_veto(quoted(answer)[0])
        actions = [c for c in fake.calls("sendChatAction") if c["chat_id"] == FORUM]
        assert actions and all(c.get("message_thread_id") == topic for c in actions)
        fake.press_button(FORUM, OTHER, answer.message_id, text="Sources")
        assert (await bot.reply(FORUM)).thread_id == topic
        fake.user_says(FORUM, USER, "/sources", thread_id=topic)
        assert (await bot.reply(FORUM)).thread_id == topic
        await bot.silence(FORUM)

    play(fake, engine, scenario)


# -- failures and the webhook ---------------------------------------------------------------------------


def test_errors_are_logged_and_the_bot_carries_on(
    fake: FakeTelegram, make_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()

    async def boom(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        raise RuntimeError("a bug in a handler")

    async def scenario(bot: Bot) -> None:
        fake.user_says(USER, USER, "/boom")
        assert (await bot.reply(USER)).text == SORRY
        fake.user_says(USER, USER, "/delete 9")
        assert (await bot.reply(USER)).text == (
            "There is no article number 9; the collection holds 0. See the list."
        )
        fake.user_says(USER, USER, "/help")
        assert "/delete N" in ((await bot.reply(USER)).text or "")

    with caplog.at_level(logging.INFO, logger="verbatim.bot.telegram"):
        play(
            fake, engine, scenario, setup=lambda app: app.add_handler(CommandHandler("boom", boom), group=-1)
        )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "a bug in a handler" in str(errors[0].exc_info[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_webhook_mode(fake: FakeTelegram, make_engine: Any) -> None:
    port = free_port()
    engine = make_engine(
        webhook_url="https://bot.example.org/verbatim/hook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_secret="s3cret-Token_1",
    )

    async def scenario(bot: Bot) -> None:
        assert fake.webhook is not None
        assert fake.webhook["url"] == "https://bot.example.org/verbatim/hook"
        assert fake.webhook["secret_token"] == "s3cret-Token_1"
        fake.user_says(USER, USER, "/start")
        update = fake.pending_updates()[-1]  # the fake does not push to webhooks: deliver it ourselves
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/verbatim/hook"
            forged = await client.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
            assert forged.status_code == 403
            ok = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
            )
            assert ok.status_code == 200
        assert "Add your first article" in ((await bot.reply(USER)).text or "")

    play(fake, engine, scenario)
