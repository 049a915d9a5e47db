"""All settings, read once at an entry point (env vars ``RAG_*`` and ``.env``).

Library code never reads the environment: the CLI and the app build one
``Settings`` and pass what is needed down. A bad value fails at start-up with
the variable's name and what is allowed (``load_settings``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.bm25 import BM25Params
from rag.chunking import ChunkConfig
from rag.errors import ConfigError
from rag.index import IndexConfig
from rag.retrieval import DEFAULT_MIN_COVERAGE

__all__ = ["Settings", "default_cache_dir", "load_settings"]


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "rag"


class Settings(BaseSettings):
    """Settings of the assistant; each field is the env var ``RAG_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    docs_dir: Path = Field(Path("corpus"), description="folder of documents to index")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="where the index cache is kept")
    top_k: int = Field(5, ge=1, le=50, description="passages retrieved per question")
    chunk_tokens: int = Field(300, ge=32, le=4000, description="target chunk size in tokens")
    chunk_overlap: int = Field(30, ge=0, le=1000, description="tokens repeated between neighbouring chunks")
    language: Literal["auto", "en", "tr"] = Field("auto", description="language of documents and questions")
    max_file_mb: float = Field(20.0, gt=0, le=1024, description="files larger than this are skipped")
    min_coverage: float = Field(
        DEFAULT_MIN_COVERAGE, ge=0, le=1,
        description="retrieval confidence: share of the question's idf mass the top passage must hold (calibrated on the dev set)",
    )
    bm25_k1: float = Field(1.5, gt=0, le=10)
    bm25_b: float = Field(0.75, ge=0, le=1)

    def index_config(self) -> IndexConfig:
        return IndexConfig(
            chunk=ChunkConfig(target=self.chunk_tokens, overlap=min(self.chunk_overlap, self.chunk_tokens // 2)),
            bm25=BM25Params(k1=self.bm25_k1, b=self.bm25_b),
            language=self.language,
            max_bytes=int(self.max_file_mb * 1024 * 1024),
        )


def load_settings(**overrides: object) -> Settings:
    """Build ``Settings``; a bad value raises ``ConfigError`` naming its env var."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = []
        for e in err.errors():
            name = "RAG_" + "_".join(str(p) for p in e["loc"]).upper()
            problems.append(f"{name}: {e['msg']} (got {e.get('input')!r})")
        raise ConfigError("Invalid setting: " + "; ".join(problems)) from err
