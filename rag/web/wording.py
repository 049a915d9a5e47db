"""The app's own words, in English and Turkish: badges, escalation reasons, notes, starters, the welcome.

Chainlit's UI strings are in ``.chainlit/translations``; these are the ones the
app writes into the chat. Pure: ``app.py`` picks the language (the browser's,
or the question's) and renders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.search.index import IndexReport

__all__ = ["STARTERS", "STARTING", "TEXT", "language_of", "welcome"]

TEXT = {
    "en": {
        "badges": {"slm": "🟢 SLM", "llm": "🔵 LLM", "extractive": "📄 Extractive · the documents' own words"},
        "reasons": {
            "user": "asked for the big model",
            "error": "the small model failed",
            "budget": "the small model used its whole token budget thinking",
            "short": "the answer was too short for the question: empty, cut off, or too few words of its own",
            "low_confidence": "the documents may not cover this",
            "refusal": "the small model declined although the documents cover it",
            "language": "the answer was in another language than the question",
            "uncited": "the answer cited no source",
            "invented": "the answer had a number or a name that no source has",
            "ungrounded": "the answer was not backed by the sources",
            "topic": "the question names a watched topic",
        },
        "escalated": "⤴ Escalated to the LLM tier ({mode}): {reasons}.",
        "skipped": "⤴ Escalation needed: {reasons}; skipped: {why}. Quoting the documents instead.",
        "draft": "**{tier} draft**",
        "sources": "sources",
        "thinking": "Thinking",
        "thought": "Thought for {seconds:.1f} s",
        "queued": "⏳ Waiting for the model, {ahead} ahead…",
        "ready": "**Ready:** {summary}.",
        "indexed": "{files} documents ({chunks} passages) from `{docs}`",
        "skipped_files": "; {n} skipped: {reasons}",
        "ask": "Ask a question, drop a document into the chat (it stays in this chat), or type `/stats`.",
        "demo": "The two models side by side: [workshop demo](/demo).",
    },
    "tr": {
        "badges": {"slm": "🟢 SLM", "llm": "🔵 LLM", "extractive": "📄 Alıntı · belgelerin kendi sözleri"},
        "reasons": {
            "user": "büyük model istendi",
            "error": "küçük model başarısız oldu",
            "budget": "küçük model tüm token bütçesini düşünmeye harcadı",
            "short": "yanıt soru için fazla kısaydı: boş, yarıda kesilmiş ya da kendi sözü çok az",
            "low_confidence": "belgeler bunu kapsamıyor olabilir",
            "refusal": "belgeler kapsadığı hâlde küçük model yanıt vermedi",
            "language": "yanıt sorunun dilinde değildi",
            "uncited": "yanıt hiçbir kaynak göstermedi",
            "invented": "yanıtta hiçbir kaynakta olmayan bir sayı ya da ad vardı",
            "ungrounded": "yanıt kaynaklarla desteklenmiyordu",
            "topic": "soru izlenen bir konuyu içeriyor",
        },
        "escalated": "⤴ Soru LLM katmanına yükseltildi ({mode}): {reasons}.",
        "skipped": "⤴ Yükseltme gerekiyordu: {reasons}; yapılamadı: {why}. Bunun yerine belgelerden alıntı yapılıyor.",
        "draft": "**{tier} taslağı**",
        "sources": "kaynaklar",
        "thinking": "Düşünüyor",
        "thought": "{seconds:.1f} sn düşündü",
        "queued": "⏳ Model bekleniyor, önünde {ahead} kişi var…",
        "ready": "**Hazır:** {summary}.",
        "indexed": "`{docs}` klasöründen {files} belge ({chunks} bölüm)",
        "skipped_files": "; {n} dosya atlandı: {reasons}",
        "ask": "Bir soru sorun, sohbete bir belge bırakın (yalnızca bu sohbette kalır) ya da `/stats` yazın.",
        "demo": "İki modeli yan yana karşılaştırmak için: [atölye demosu](/demo).",
    },
}
STARTING = {
    "en": "**Starting:** indexing the documents and warming up the model; ask away, the first answer waits for it (`/status` shows progress).",
    "tr": "**Başlıyor:** belgeler dizinleniyor ve model ısınıyor; sorunuzu yazabilirsiniz, ilk yanıt bunu bekler (`/status` durumu gösterir).",
}

# (label, message) of the chat's starter buttons
STARTERS = {
    "en": [
        ("How does escalation work?", "How does escalation work?"),
        ("Which port does Ollama use?", "What port does Ollama listen on?"),
        ("Which files can I add?", "Which document formats are supported?"),
        ("What does a turn cost?", "What does every turn show about its cost?"),
    ],
    "tr": [
        ("Yükseltme nasıl çalışır?", "Yükseltme (escalation) nedir, ne zaman olur?"),
        ("Kendi belgelerim", "Kendi belgelerimi nasıl kullanırım?"),
        ("Kurulum", "Asistanı nasıl kurup çalıştırırım?"),
    ],
}


def language_of(locale: str | None) -> str:
    """"tr" for a Turkish browser locale (``tr``, ``tr-TR``), else "en"."""
    return "tr" if str(locale or "").lower().startswith("tr") else "en"


def welcome(lang: str, docs: Path, report: IndexReport, tier_lines: Sequence[str]) -> str:
    """The welcome in ``lang``: documents indexed from ``docs`` (and the first five skipped, with why), each tier's line."""
    words = TEXT[lang]
    summary = words["indexed"].format(files=report.files, chunks=report.chunks, docs=docs)
    if report.skipped:
        reasons = "; ".join(f"`{s.source}`: {s.reason}" for s in report.skipped[:5])
        summary += words["skipped_files"].format(n=len(report.skipped), reasons=reasons)
    lines = [words["ready"].format(summary=summary)] + [f"- {line}" for line in tier_lines]
    return "\n".join([*lines, "", words["ask"], "", words["demo"]])
