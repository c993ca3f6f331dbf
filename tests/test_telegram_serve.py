"""`verbatim serve` as a real process against the fake Bot API: starts, answers, stops cleanly on SIGINT."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from verbatim.bot.telegram.serve import NO_TOKEN, REJECTED_TOKEN

from tests.conftest import ROOT, SEED_ARTICLE, VERBATIM, verbatim_env
from tests.fake_telegram import FakeTelegram

USER = 42
server = FakeTelegram.fixture("server")


def serve_env(data_dir: Path, server: FakeTelegram, token: str | None) -> dict[str, str]:
    extra = {
        "VERBATIM_TELEGRAM_BASE_URL": server.base_url,
        "VERBATIM_TELEGRAM_BASE_FILE_URL": server.base_file_url,
    }
    if token is not None:
        extra["VERBATIM_TELEGRAM_TOKEN"] = token
    return verbatim_env(data_dir, **extra)


def run_serve(data_dir: Path, server: FakeTelegram, token: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VERBATIM, "serve"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=serve_env(data_dir, server, token),
        timeout=120,
    )


@pytest.mark.slow  # the real model, in a subprocess
def test_serve_answers_and_stops_cleanly_on_sigint(tmp_path: Path, server: FakeTelegram) -> None:
    server.add_user(USER, "Ada")
    proc = subprocess.Popen(
        [*VERBATIM, "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=serve_env(tmp_path / "data", server, server.token),
    )
    try:
        server.user_says(USER, USER, "/start")
        [hello] = server.wait_for_bot_messages(USER, timeout=60)
        assert "Add your first article" in (hello.text or "")
        server.user_says(USER, USER, "/add " + SEED_ARTICLE.read_text(encoding="utf-8"))
        [status] = server.wait_for_bot_messages(USER, timeout=60)
        server.wait_until(lambda: server.bot_message(USER, status.message_id).edited, timeout=120)
        assert (server.bot_message(USER, status.message_id).text or "").startswith("Added “Netanyahu")
        server.user_says(USER, USER, "why was the delegation cancelled?")
        [answer] = server.wait_for_bot_messages(USER, timeout=60)
        assert "refused to veto" in (answer.text or "") or "failure to veto" in (answer.text or "")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert server.token not in out + err
    assert server.token.split(":")[1] not in out + err
    assert "Traceback" not in err
    assert "@VerbatimTestBot is running (long polling)" in err
    assert server.commands({"type": "all_private_chats"})


def test_serve_without_a_token_says_what_to_set(tmp_path: Path, server: FakeTelegram) -> None:
    result = run_serve(tmp_path / "data", server, None)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [NO_TOKEN]
    assert not server.call_log  # nothing was even tried


def test_serve_with_a_rejected_token_says_so_in_one_line(tmp_path: Path, server: FakeTelegram) -> None:
    wrong = "987654321:" + "x" * 35
    result = run_serve(tmp_path / "data", server, wrong)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [REJECTED_TOKEN]
    assert wrong not in result.stdout + result.stderr
    server.expect_error("Unauthorized")
