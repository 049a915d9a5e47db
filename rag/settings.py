"""All settings, read once at an entry point (env vars ``RAG_*`` and ``.env``).

Library code never reads the environment: the CLI and the app build one
``Settings`` and pass what is needed down. A bad value fails at start-up with
the variable's name and what is allowed (``load_settings``).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from rag.errors import ConfigError

__all__ = ["Settings", "default", "default_cache_dir", "default_data_dir", "load_settings"]


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rag"


def default_data_dir() -> Path:
    """Where the app keeps what must not be thrown away with a cache (chat history): the platform's data folder."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:  # XDG: an absolute $XDG_DATA_HOME, else ~/.local/share
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "rag"


class Settings(BaseSettings):
    """Settings of the assistant; each field is the env var ``RAG_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    docs_dir: Path = Field(Path("corpus"), description="folder of documents to index")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="where the index cache is kept")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="where the app keeps its data: the chat history (default: ~/.local/share/rag, $XDG_DATA_HOME/rag; "
        "~/Library/Application Support/rag on macOS, %LOCALAPPDATA%\\rag on Windows)",
    )
    top_k: int = Field(5, ge=1, le=50, description="passages retrieved per question")
    chunk_tokens: int = Field(300, ge=32, le=4000, description="target chunk size in tokens")
    chunk_overlap: int = Field(30, ge=0, le=1000, description="tokens repeated between neighbouring chunks")
    language: Literal["auto", "en", "tr"] = Field("auto", description="language of documents and questions")
    max_file_mb: float = Field(20.0, gt=0, le=1024, description="files larger than this are skipped")
    max_uploads_mb: float = Field(
        256.0, gt=0, le=1048576,
        description="what all chats' uploads together may hold in the app's memory, in MB of their passages' and terms' "
        "text (rag.search.budget; about 2.5x that in process memory); an upload that does not fit is refused",
    )
    # calibrated on the dev question set and both peer sets (docs/retrieval.md): the lowest coverage of an
    # answerable question there is 0.30
    min_coverage: float = Field(
        0.25, ge=0, le=1,
        description="retrieval confidence: share of the question's idf mass the top passage must hold (calibrated on the dev set)",
    )
    bm25_k1: float = Field(1.5, gt=0, le=10, description="BM25 term-frequency saturation k1 (bm25s's default)")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation b (bm25s's default)")

    # --- the SLM tier: answers first. No base URL: Foundry Local if found, else the embedded server.
    slm_base_url: str | None = Field(None, description="OpenAI-compatible base URL of the SLM, e.g. http://127.0.0.1:11434/v1")
    slm_model: str = Field("phi-4-mini", min_length=1, description="model id or alias (resolved against /v1/models)")
    slm_api_key: SecretStr = Field(SecretStr("not-needed"), description="API key of the SLM server, if it wants one (never printed)")
    slm_timeout: float = Field(60.0, gt=0, le=3600, description="seconds before an SLM request gives up")
    slm_max_tokens: int = Field(256, ge=1, le=32768, description="most tokens the SLM may generate per answer, thinking included")
    slm_temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature of the SLM (0: the same answer each time)")
    slm_reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        None, description="reasoning_effort sent to a reasoning SLM (low|medium|high); unset or empty: not sent"
    )
    slm_prompt: Literal["auto", "chat", "completion"] = Field(
        "auto", description="prompt profile: chat (instruction models) or completion (base models); auto: by backend"
    )
    slm_sources: int = Field(3, ge=1, le=50, description="passages the SLM reads (the LLM reads all top-k)")
    # --- the LLM tier: takes over when escalation fires. No base URL: escalation is skipped, with a note.
    llm_base_url: str | None = Field(None, description="OpenAI-compatible base URL of the LLM tier")
    llm_model: str = Field("gpt-oss-20b", min_length=1, description="model id or alias of the LLM tier, as its server lists it (/v1/models)")
    llm_api_key: SecretStr = Field(SecretStr("not-needed"), description="API key of the LLM tier (never printed)")
    llm_timeout: float = Field(120.0, gt=0, le=3600, description="seconds the LLM may take to answer before the turn gives up on it")
    llm_max_tokens: int = Field(512, ge=1, le=32768, description="most tokens the LLM may generate per answer, thinking included")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature of the LLM")
    llm_reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        "low", description="reasoning_effort sent to the LLM tier (low keeps gpt-oss-20b fast); empty: not sent"
    )
    foundry_local_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("FOUNDRY_LOCAL_ENDPOINT", "RAG_FOUNDRY_LOCAL_ENDPOINT"),
        description="the workshop's variable: Foundry Local's base URL",
    )
    compare_prompt: str | None = Field(
        None, validation_alias=AliasChoices("COMPARE_PROMPT", "RAG_COMPARE_PROMPT"),
        description="the workshop's variable: the /demo page's default prompt (None: the workshop's own)",
    )
    embedded_model: Literal["gemma3-270m", "smollm2-135m"] = Field(
        "gemma3-270m", description="model of the embedded llama.cpp server (docs/embedded-model.md: chosen by measurement)"
    )
    history_db: Path | None = Field(
        None, description="SQLite file of the chat history (default: chat-history.db in RAG_DATA_DIR; 'off': no history)"
    )
    history: Literal["auto", "on", "off"] = Field(
        "auto",
        description="who gets a chat history (sidebar, resume, votes): with login (RAG_AUTH_USERS) each user their own; "
        "without, auto keeps one for the person at this machine while the app is bound to loopback only, on keeps "
        "one that everyone who reaches the app shares, off keeps none",
    )
    history_days: int = Field(
        0, ge=0, le=36500, description="chats last active more than this many days ago are deleted at start-up (0: kept)"
    )
    embedded_port: int = Field(0, ge=0, le=65535, description="port of the embedded server (0: a free one)")
    embedded_extra_buffers: bool = Field(
        False,
        description="let llama.cpp repack the embedded model's weights for this CPU (CPU_REPACK, AMX): "
        "off by default because the AMX path crashes on some Xeons; a crash restarts it with this off",
    )

    # --- escalation: decided after the SLM's answer is complete
    escalate: Literal["auto", "always", "never"] = Field("auto", description="auto: the policy decides")
    escalation_mode: Literal["refine", "regenerate"] = Field(
        "refine", description="refine: the LLM improves the SLM's draft; regenerate: it answers afresh from the sources",
    )
    short_answer_chars: int = Field(
        0, ge=0, le=5000,
        description="answers shorter than this many characters escalate as 'short' (0: off; the workshop's briefs: 600; "
        "at most 5000, a page of text); "
        "answers too short for their question (empty, cut off, a bare 'yes' to a how-to) escalate either way",
    )
    min_support: float = Field(
        0.5, ge=0, le=1,
        description="share of an answer's content words the sources must contain (calibrated with bench/policy.py)",
    )
    topic_keywords: Annotated[list[str], NoDecode] = Field(default_factory=list, description="questions naming one of these escalate")
    history_tokens: int = Field(600, ge=0, le=100000, description="budget for recent turns in the prompt")

    # --- optional login for shared deployments (off by default)
    auth_users: SecretStr | None = Field(
        None, description="'user:password' pairs, comma-separated: turns on Chainlit's password login (never printed)"
    )
    auth_secret: SecretStr | None = Field(None, description="secret that signs login cookies (default: a new one per start)")

    # --- prices per 1,000 tokens (hypothetical cloud prices, for the cost estimate only)
    slm_price_prompt: float = Field(0.0001, ge=0, description="USD per 1k prompt tokens on the SLM tier (hypothetical)")
    slm_price_completion: float = Field(0.0004, ge=0, description="USD per 1k completion tokens on the SLM tier (hypothetical)")
    llm_price_prompt: float = Field(0.0015, ge=0, description="USD per 1k prompt tokens on the LLM tier (hypothetical)")
    llm_price_completion: float = Field(0.006, ge=0, description="USD per 1k completion tokens on the LLM tier (hypothetical)")

    @field_validator("slm_base_url", "llm_base_url", "foundry_local_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:5273/v1")
        return value

    @field_validator("slm_reasoning_effort", "llm_reasoning_effort", mode="before")
    @classmethod
    def _effort(cls, value: object) -> object:
        if isinstance(value, str):  # RAG_LLM_REASONING_EFFORT= (empty): send none
            return value.strip().lower() or None
        return value

    @field_validator("history_db", mode="before")
    @classmethod
    def _history(cls, value: object) -> object:
        return Path("off") if isinstance(value, str) and value.strip().lower() in ("off", "none", "") else value

    @field_validator("auth_users", mode="after")
    @classmethod
    def _users(cls, value: SecretStr | None) -> SecretStr | None:
        """A malformed login list stops start-up: login must never fail open."""
        if value is None:
            return None
        _parse_users(value.get_secret_value())  # raises ValueError, named RAG_AUTH_USERS by load_settings
        return value

    def users(self) -> dict[str, str]:
        """Login users and passwords from ``RAG_AUTH_USERS`` (empty: login is off)."""
        return {} if self.auth_users is None else _parse_users(self.auth_users.get_secret_value())

    def history_path(self) -> Path | None:
        """Where chat history is stored, or None when RAG_HISTORY_DB is off (``rag.web.history.plan_history`` decides the rest)."""
        if self.history_db is None:
            return self.data_dir / "chat-history.db"
        return None if str(self.history_db) == "off" else self.history_db

    @field_validator("topic_keywords", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> object:
        if isinstance(value, str):  # RAG_TOPIC_KEYWORDS=legal,contract
            return [k.strip() for k in value.split(",") if k.strip()]
        return value



def default(name: str) -> object:
    """The default of setting ``name`` (a ``Settings`` field): what a stage uses when nobody configured it.

    The stages' own defaults read this, so each default is written once, here. Raises ``KeyError`` for a name
    that is not a setting.
    """
    return Settings.model_fields[name].get_default(call_default_factory=True)


# Fields whose values are never printed, not even in an error about them.
_SECRET_FIELDS = frozenset(name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation))


def _parse_users(text: str) -> dict[str, str]:
    """``"alice:pw1,bob:pw2"`` -> ``{"alice": "pw1", "bob": "pw2"}``; ValueError (without the passwords) if malformed."""
    pairs: dict[str, str] = {}
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("must name at least one 'user:password' pair (unset it to turn login off)")
    for number, item in enumerate(items, 1):
        name, sep, password = item.partition(":")
        if not sep or not name.strip() or not password:
            raise ValueError(f"must be 'user:password' pairs separated by commas; pair {number} is not (the passwords are not shown)")
        pairs[name.strip()] = password
    return pairs


# RAG_* names that are read outside Settings on purpose (a debugging switch of the CLI's error boundary).
_OTHER_NAMES = frozenset({"RAG_RAISE_ERRORS"})


def known_names() -> frozenset[str]:
    """Every ``RAG_*`` variable the program reads."""
    return frozenset(f"RAG_{name.upper()}" for name in Settings.model_fields) | _OTHER_NAMES


def unknown_names(environ: Mapping[str, str], env_file: Path = Path(".env")) -> list[str]:
    """``RAG_*`` names in the environment or in ``env_file`` that no setting has (a misspelt name is silently ignored otherwise)."""
    names = {name for name in environ if name.upper().startswith("RAG_")}
    if env_file.is_file():
        names |= {name for name in dotenv_values(env_file) if name.upper().startswith("RAG_")}
    known = known_names()
    return sorted(name for name in names if name.upper() not in known)


def load_settings(**overrides: object) -> Settings:
    """Build ``Settings``; a bad value, or a ``RAG_*`` name that is no setting, raises ``ConfigError`` naming it.

    An unknown name stops start-up because a misspelt one would be ignored without a word:
    ``RAG_AUTH_USER=alice:pw`` would otherwise start the app with login off.
    """
    unknown = unknown_names(os.environ)
    if unknown:
        known = sorted(known_names())
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.8)
            hints.append(f"{name}" + (f" (did you mean {close[0]}?)" if close else ""))
        raise ConfigError(
            "Unknown setting: " + ", ".join(hints) + ". Fix its name or remove it (the settings are listed in docs/settings.md)."
        )
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = []
        for e in err.errors():
            field = "_".join(str(p) for p in e["loc"]).upper()
            name = field if field.startswith(("RAG_", "FOUNDRY_")) else "RAG_" + field
            message = e["msg"].removeprefix("Value error, ")
            secret = str(e["loc"][0]) in _SECRET_FIELDS if e["loc"] else False
            problems.append(f"{name}: {message}" if secret else f"{name}: {message} (got {e.get('input')!r})")
        raise ConfigError("Invalid setting: " + "; ".join(problems)) from err
    except SettingsError as err:  # a value pydantic-settings could not even parse
        raise ConfigError(f"Invalid setting: {err}. Check the RAG_* variables and .env.") from err
