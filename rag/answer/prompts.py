"""Prompts: numbered sources, the grounding instruction, history, refine and one-shot profiles.

Pure string building. Sources are named exactly ``Source 1``, ``Source 2``, ...
because the app turns those names into links to the passages. The instruction
is in the question's language, so a Turkish question gets a Turkish answer.

Two profiles:

- ``chat``: system + user messages, for instruction-tuned models (phi-4-mini,
  gpt-oss, SmolLM2-Instruct, anything behind Foundry Local or Ollama);
- ``completion``: a one-shot ``Context: ... Question: ... Answer:`` text that
  stops at the newline, for base models such as the embedded Gemma-3 270M, which
  ramble under a chat template but complete a pattern well.

Both carry the conversation: the chat profile as earlier user/assistant
messages, the completion profile as earlier ``Question:``/``Answer:`` lines
after the context (``history``, already cut to the token budget by the caller).
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.search.followup import Turn
from rag.search.retrieval import Hit
from rag.tiers.prompt import CITATION_RE, NOT_COVERED, Prompt

__all__ = ["build_prompt", "format_sources", "refine_prompt"]

_INSTRUCTIONS = {
    "en": (
        "You answer questions about the user's documents. Use only the sources below. "
        "Cite every source you use by its name, like [Source 1]. "
        "If the sources do not answer the question, reply exactly: \"{not_covered}\" "
        "Answer in English, briefly and precisely."
    ),
    "tr": (
        "Kullanıcının belgeleriyle ilgili soruları yanıtlıyorsun. Yalnızca aşağıdaki kaynakları kullan. "
        "Kullandığın her kaynağı adıyla belirt, örneğin [Source 1]. "
        "Kaynaklar soruyu yanıtlamıyorsa tam olarak şunu yaz: \"{not_covered}\" "
        "Türkçe, kısa ve net yanıt ver."
    ),
}

_REFINE = {
    "en": (
        "A smaller model wrote the draft answer below from the same sources. Improve it: keep what the sources "
        "support, correct or remove what they do not, add what is missing, and cite sources like [Source 1].\n\n"
        "Draft answer:\n{draft}"
    ),
    "tr": (
        "Daha küçük bir model aynı kaynaklardan aşağıdaki taslak yanıtı yazdı. Onu iyileştir: kaynakların "
        "desteklediğini koru, desteklemediğini düzelt ya da çıkar, eksikleri ekle ve kaynakları [Source 1] gibi belirt.\n\n"
        "Taslak yanıt:\n{draft}"
    ),
}

_ONE_SHOT = {
    "en": (
        "Context: The lighthouse museum opens at ten in the morning. Visitors may borrow binoculars at the "
        "front desk.\nQuestion: When does the lighthouse museum open?\nAnswer: At ten in the morning.\n\n"
    ),
    "tr": (
        "Context: Deniz feneri müzesi sabah onda açılır. Ziyaretçiler dürbünü danışmadan ödünç alabilir.\n"
        "Question: Deniz feneri müzesi ne zaman açılır?\nAnswer: Sabah onda.\n\n"
    ),
}

def format_sources(hits: Sequence[Hit], max_chars: int = 2400) -> str:
    """``Source N (file › heading):`` blocks, each passage cut to ``max_chars``."""
    blocks = []
    for n, hit in enumerate(hits, 1):
        text = hit.text if len(hit.text) <= max_chars else hit.text[:max_chars] + " …"
        blocks.append(f"Source {n} ({hit.source} › {hit.heading}):\n{text}")
    return "\n\n".join(blocks)


def build_prompt(question: str, hits: Sequence[Hit], lang: str, history: Sequence[Turn] = ()) -> Prompt:
    """The grounded prompt for ``question`` in both profiles."""
    lang = lang if lang in _INSTRUCTIONS else "en"
    system = _INSTRUCTIONS[lang].format(not_covered=NOT_COVERED[lang])
    sources = format_sources(hits)
    messages = [{"role": "system", "content": system}]
    for turn in history:
        messages.append({"role": "user", "content": turn.question})
        messages.append({"role": "assistant", "content": turn.answer})
    messages.append({"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}"})
    # one-shot completion: the example teaches the format (short, from the context, then a newline),
    # in the question's language. Its topic is far from any docs folder on purpose: a small model
    # copies the example's answer when it is unsure, and a copied "5273." about ports looked like one.
    context = " ".join(" ".join(h.text.split()) for h in hits)
    # the conversation so far, as earlier question/answer lines of the same pattern (one line each: the
    # profile stops at a newline), between the context and the question, so "and its port?" reads on
    earlier = "".join(f"Question: {_one_line(t.question)}\nAnswer: {_one_line(t.answer)}\n" for t in history)
    text = f"{_ONE_SHOT[lang]}Context: {context}\n{earlier}Question: {_one_line(question)}\nAnswer:"
    return Prompt(messages=messages, text=text, stop=["\n"])


def _one_line(text: str) -> str:
    """``text`` on one line, without citation markers (a base model copies them into the next answer)."""
    return " ".join(CITATION_RE.sub("", text).split())


def refine_prompt(base: Prompt, draft: str, lang: str) -> Prompt:
    """The LLM's prompt in ``refine`` mode: the same sources plus the SLM's draft."""
    lang = lang if lang in _REFINE else "en"
    messages = [dict(m) for m in base.messages]
    messages[-1]["content"] += "\n\n" + _REFINE[lang].format(draft=draft.strip() or "(empty)")
    return Prompt(messages=messages, text=base.text, stop=base.stop, completion_max_tokens=base.completion_max_tokens)
