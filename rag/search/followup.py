"""A question in its conversation: is it a follow-up, and what subject does it carry from the turns before?

"Can I pin a fixed port instead?" after "How do I find Foundry Local's port?"
is about Foundry Local, though it never says so; "How do I create a virtual
environment?" after the same turn is a new question with a subject of its own.
Searching the first alone misses its subject; pasting the whole conversation
into every query (measured: follow-ups 0.32 -> 0.64 evidence@5, but unrelated
next questions 0.87 -> 0.55) drowns the second.

The technique is historical query expansion (HQE: Yang et al., "Query and
Answer Expansion from Conversation History", TREC CAsT 2019; Lin et al.,
"Multi-Stage Conversational Passage Retrieval", 2021): keep the question's own
terms at full weight and add the *subject* terms of the earlier turns (their
rarest terms, by idf; chosen in ``rag.search.retrieval``) at a reduced weight, more
for a question that depends on its history, none for one that does not:

- **dependent** (``strength`` 1): the question refers back. A pronoun or a
  demonstrative ("it", "them", "the second one", "bu", "onun", "bunlardan"),
  an opener that continues ("and …", "what about …", "peki …", "… ya?"), an
  additive or a comparison with nothing to compare to ("too", "instead",
  "similar", "slower" without "than", "de/da", "daha"), a Turkish word whose
  possessive suffix has no possessor in the question ("çevirisini": *its*
  translation), or too few words of its own to be a question alone
  (ellipsis: "And for .NET?"). A back-reference inside a long question (more
  than ``_SELF_CONTAINED_WORDS`` words of its own) most likely points inside
  it, and counts as no cue;
- **continuing** (``strength`` ``SOFT``): no cue either way; it may go on with
  the subject ("Port çakışması olursa ne yapmalıyım?"), so the subject is
  carried lightly, its weight shared by all its terms (``Carry.spread``): it
  breaks ties between passages that match the question's own words and never
  outweighs one of them ("Where are the lockers?" stays about lockers);
- **new** (``strength`` 0): the question names its own subject (a name or an
  identifier, not a generic acronym or platform such as GPU or Windows) and no
  opener or additive says it goes on (``cue`` gives the order of the rules);
  a topic switch, searched alone.

The previous turn's question carries the subject at ``QUESTION_WEIGHT``, its
answer at ``ANSWER_WEIGHT``; when that question itself surely depended on the
turn before it, that turn is carried too, halved at each step back (``DECAY``),
at most ``MAX_DEPTH`` turns. The weights were chosen on
``../shared/eval/followups_dev.jsonl`` and topic switches made from
``dev_qa.jsonl`` (docs/conversations.md): round values, no dialogue tuned for.

Pure functions over strings; nothing here reads the index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.search.analysis import ALL_QUESTION_WORDS, ALL_STOPWORDS, detect_language, fold, words
from rag.search.confidence import name_like_words

__all__ = [
    "ANSWER_WEIGHT",
    "DECAY",
    "MAX_DEPTH",
    "QUESTION_WEIGHT",
    "SOFT",
    "Carry",
    "Followup",
    "Turn",
    "cue",
    "resolve",
]

QUESTION_WEIGHT = 0.5  # the previous question's subject terms, against 1.0 for the question's own
ANSWER_WEIGHT = 0.25  # the previous answer's
SOFT = 0.5  # a question with no cue either way carries the subject at half that
DECAY = 0.5  # each turn further back counts half as much
MAX_DEPTH = 3  # turns back at most
MAX_CARRY_CHARS = 4000  # of each earlier question or answer (a pasted document as an answer is no subject)

# English. Additives: they say the question adds to what was said, so they outweigh a name of its own
# ("I'd like to try gpt-oss-20b too"); referring words point back at a subject the question does not name.
_EN_ADDITIVE = frozenset("too also instead similar same either else".split())
_EN_REFERRING = frozenset("it its itself they them their theirs themselves these those he him his she her former latter such another other others".split())
# "it" that stands for nothing: "is it possible to …", "it depends"
_EN_DUMMY_IT = re.compile(
    r"\b(?:is|was|would|will|isn'?t) it (?:possible|ok|okay|safe|necessary|worth|true|normal|better|best|recommended|required|"
    r"advisable|a good idea|enough|free|hard|easy)\b|\bit depends\b",
    re.IGNORECASE,
)
# "one" that stands for a thing named before: "the second one", "which one", "that one" (not "more than one model")
_EN_ONE = re.compile(
    r"\b((?:the|this|that|which|each|every|other|another|first|second|third|last|same|new|old|\w+er|\w+est)\s+ones?)\b"
    r"(?:\s+(\w+))?",
    re.IGNORECASE,
)
# ... unless a noun follows it ("that one model") or "of" ("each one of them" refers by "them"): a verb may
_AFTER_ONE = frozenset("is are was were do does did has have can could should would will work works run runs use uses".split())
_EN_OPENERS = re.compile(
    r"^\s*(and|or|but|so|also|then|what about|how about|what if|what else|anything else|same for|and if|if so|else)\b", re.IGNORECASE
)
# "this"/"that" refer back when no noun follows them ("is that free?", "how do I do this?")
_EN_BARE_DEMONSTRATIVE = re.compile(
    r"\b(this|that)\s*(?:[?.!,]|$|\b(?:is|was|does|do|did|work|works|mean|means|require|requires|need|needs|"
    r"cost|costs|take|takes|use|uses|run|runs|support|supports|one|ones|step|part|sample|feature|setting|option|tool|model|"
    r"session|module|service|version|approach|method|way|command|file|page|example|demo|agent|one's)\b)",
    re.IGNORECASE,
)
# a comparative with nothing to compare it to in the question ("more" and "less" are mostly quantities: left out)
_EN_COMPARATIVE = re.compile(
    r"\b(slower|faster|cheaper|better|worse|bigger|smaller|larger|heavier|lighter|easier|harder|newer|older)\b",
    re.IGNORECASE,
)
_EN_THAN = re.compile(r"\bthan\b", re.IGNORECASE)

# Turkish: demonstrative and personal pronouns in their case forms, openers, additives.
_TR_ADDITIVE_WORDS = frozenset("aynı aynısı benzer benzeri benzerini başka diğer diğeri diğerleri öbürü öteki ayrıca".split())
_TR_REFERRING = frozenset(
    """bu şu o bunu şunu onu bunun şunun onun buna şuna ona bunda şunda onda bundan şundan ondan bununla onunla
    bunlar şunlar onlar bunları şunları onları bunların şunların onların bunlara onlara bunlarda onlarda bunlardan
    onlardan bunlardaki burada orada oraya buraya oradaki buradaki ilki ilkini ikincisi ikincisini üçüncüsü sonuncusu
    olanı olanın olanları""".split()
)
_TR_OPENERS = re.compile(r"^\s*(peki|ya|ve|bir de|o zaman|öyleyse|hani|ayrıca|bunun yanında)\b(?!\s+da\b)", re.IGNORECASE)
_TR_TRAILING_YA = re.compile(r"\bya\s*[?.!]*\s*$", re.IGNORECASE)  # "… ya?": "what about …?"
_TR_ADDITIVE = re.compile(r"(?<!\bya)(?<!\bYa)\s+(de|da)\b|\b(daha)\b", re.IGNORECASE)  # "çevirisini de", "daha hızlı"; not "ya da" (or)
# A possessive suffix (3rd person, then a case ending): "çevirisini", "sürümünü", "ayarlarını" (a plain plural
# object, "modelleri", is none).
_TR_POSSESSIVE = re.compile(r"\w{3,}(?:s?[ıiuü]n[ıiuüae]|s?[ıiuü]n[dt][ae]|s?[ıiuü]n[dt]an|s?[ıiuü]n[dt]en|lerini|larını)$")
# Generic technical acronyms and platforms qualify a subject; alone they are none ("Which GPU do I need?" after
# a question about a tool is about that tool's GPU).
_PLATFORMS = frozenset("windows linux macos mac ios android cpu gpu npu cli api rest sdk ui".split())

# A question with no word of its own beyond stopwords and question words is elliptical ("Why?", "Is it?"), and
# so is one of at most ``_ELLIPSIS_LENGTH`` words with one ("How long?", "Which version?"); one word of its own
# in a sentence ("Where are the lockers?") is a subject.
_ELLIPSIS_WORDS = 0
_ELLIPSIS_LENGTH = 3
# A question with more words of its own than this names its own subject: a pronoun in it refers inside it.
# (Follow-ups are short: at most 7 such words in ../shared/eval/followups_dev.jsonl; the questions of
# dev_qa.jsonl, each complete on its own, have 6 to 21, most of them over 8.)
_SELF_CONTAINED_WORDS = 8
_NOT_OWN = ALL_STOPWORDS | ALL_QUESTION_WORDS


@dataclass(frozen=True)
class Turn:
    """One earlier turn of a conversation, as the chat layer kept it: the question asked and the answer shown."""

    question: str
    answer: str


@dataclass(frozen=True, kw_only=True)
class Carry:
    """A text from an earlier turn whose subject terms are added to the search, at ``weight`` (question's own: 1.0)."""

    text: str
    weight: float
    role: str  # "question" or "answer"
    turns_back: int  # 1: the previous turn
    # True: ``weight`` is shared by the carried terms (each gets weight / their number), so a question with no
    # cue keeps its own words in charge however many subject terms come along; False: each term gets ``weight``
    spread: bool = False


@dataclass(frozen=True, kw_only=True)
class Followup:
    """A question resolved against its history.

    ``strength``: 1.0 dependent, ``SOFT`` continuing, 0.0 a new question
    (then ``carries`` is empty). ``cue``: why, in words (the word or rule that
    decided). ``carries``: the earlier texts to take subject terms from, each
    with its weight.
    """

    question: str
    strength: float
    cue: str
    carries: tuple[Carry, ...] = field(default_factory=tuple)


def cue(question: str, history_text: str = "", lang: str = "en") -> tuple[float, str]:
    """How much ``question`` depends on its history: ``(strength, why)``.

    ``history_text``: the earlier turns' text, to tell a name the question
    brings (a topic switch) from one the conversation already had (only the
    reason's wording depends on it). ``lang``: the question's language: the
    Turkish word lists and the possessive rule for "tr", the English lists
    otherwise ("her" is "each" in Turkish).

    In order: an opener decides ("and …", "peki …"); then an additive ("too",
    "de/da"), which outweighs a name of the question's own; then a name of its
    own (not a generic acronym or platform) makes it a new question; then a
    referring word, a comparison with nothing named, no word of its own, or a
    Turkish possessive with no possessor makes it dependent. A cue inside a
    long question (more than ``_SELF_CONTAINED_WORDS`` words of its own) points
    inside it and counts as none.

    >>> cue("Can I change which model each of them uses?")
    (1.0, "refers back: 'them'")
    >>> cue("Peki Araç Olarak Modeller oturumu?", lang="tr")
    (1.0, "continues: 'peki'")
    >>> cue("Which port does Ollama use by default?", "How do I install Foundry Local?")
    (0.0, "a subject of its own: 'ollama'")
    """
    text = " ".join(question.split())
    if not text:
        return 0.0, "empty"
    turkish = lang == "tr"
    if m := (_TR_OPENERS.match(text) if turkish else _EN_OPENERS.match(text)):
        return 1.0, f"continues: {m.group(1).lower()!r}"
    if turkish and _TR_TRAILING_YA.search(text):
        return 1.0, "continues: '… ya?'"
    tokens = re.findall(r"[\w'’]+", fold(text, lang))
    bare = [t.split("'")[0].split("’")[0] for t in tokens]
    every = words(fold(text, "en"))
    own = [w for w in every if w not in _NOT_OWN]
    # a cue in a question long enough to name its own subject most likely points inside it
    # ("My model takes images and audio. Is llama.cpp a good way to optimize it?")
    inside = len(own) > _SELF_CONTAINED_WORDS
    additive = ""
    if turkish:
        word = next((t for t in bare if t in _TR_ADDITIVE_WORDS), None)
        m = _TR_ADDITIVE.search(text)
        additive = f"adds to the subject: {word!r}" if word else (f"adds to the subject: {(m.group(1) or m.group(2)).lower()!r}" if m else "")
    else:
        word = next((t for t in bare if t in _EN_ADDITIVE), None) or ("as well" if re.search(r"\bas well\b", text, re.I) else None)
        additive = f"refers back: {word!r}" if word else ""
    if additive and not inside:
        return 1.0, additive
    names = _own_names(text)
    if names:
        said = set(words(fold(history_text, "en"))) if history_text else set()
        new = [n for n in names if not set(words(n)) <= said]
        return 0.0, f"a subject of its own: {(new or names)[0]!r}"
    found = additive or _referring(text, bare, tokens, turkish)
    if found and not inside:
        return 1.0, found
    if found:
        return SOFT, f"{found}, inside a question of {len(own)} words of its own"
    if len(own) <= _ELLIPSIS_WORDS or (len(own) == 1 and len(every) <= _ELLIPSIS_LENGTH):
        return 1.0, "elliptical: too few words of its own"
    return SOFT, "no cue either way"


def _own_names(text: str) -> list[str]:
    """The names the question writes (folded), without the pronoun "I" and generic acronyms or platforms."""
    return sorted(n for n in name_like_words(text) if len(n) > 1 and n.replace("ı", "i") not in _PLATFORMS)


def _referring(text: str, bare: list[str], tokens: list[str], turkish: bool) -> str:
    """Why the question points back at an unnamed subject ("" when it does not)."""
    if turkish:
        if word := next((t for t in bare if t in _TR_REFERRING), None):
            return f"refers back: {word!r}"
        for i, token in enumerate(tokens):  # a possessive whose possessor is not in the question ("sürümünü")
            if "'" in token or "’" in token or token in _NOT_OWN or not _TR_POSSESSIVE.search(token):
                continue
            if i == 0 or not re.search(r"([ıiuü]n|[ıiuü]m|[ıiuü]z)$", tokens[i - 1]):  # "sistemin sürümü" names its possessor
                return f"possessive without a possessor: {token!r}"
            break
        return ""
    dummy = _EN_DUMMY_IT.sub(" ", text)
    for token in re.findall(r"[\w'’]+", dummy.lower()):
        token = token.split("'")[0].split("’")[0]
        if token in _EN_REFERRING:
            return f"refers back: {token!r}"
    for m in _EN_ONE.finditer(text):
        following = (m.group(2) or "").lower()
        if not following or (len(following) < 3 and following != "of") or following in _AFTER_ONE:
            return f"refers back: {m.group(1).lower()!r}"
    if m := _EN_BARE_DEMONSTRATIVE.search(text):
        return f"refers back: {m.group(1).lower()!r}"
    if (m := _EN_COMPARATIVE.search(text)) and not _EN_THAN.search(text):
        return f"compares with nothing named: {m.group(1).lower()!r}"
    return ""


def resolve(question: str, history: Sequence[Turn], lang: str | None = None) -> Followup:
    """Resolve ``question`` against ``history`` (oldest first): what to carry from which turn, and how much.

    ``lang``: the question's language (default: detected). Returns a
    ``Followup`` whose ``carries`` is empty for a new question or an empty
    history. Raises nothing.
    """
    if not history or not question.strip():
        return Followup(question=question, strength=0.0, cue="no history" if not history else "empty")
    lang = lang or detect_language(question)
    earlier = " ".join(f"{t.question} {t.answer}" for t in history[-MAX_DEPTH:])
    strength, why = cue(question, earlier, lang)
    if strength == 0.0:
        return Followup(question=question, strength=0.0, cue=why)
    carries: list[Carry] = []
    scale = strength
    for back in range(1, min(MAX_DEPTH, len(history)) + 1):
        turn = history[-back]
        spread = strength < 1.0
        carries.append(Carry(text=turn.question[:MAX_CARRY_CHARS], weight=QUESTION_WEIGHT * scale, role="question", turns_back=back, spread=spread))
        if turn.answer.strip():
            carries.append(Carry(text=turn.answer[:MAX_CARRY_CHARS], weight=ANSWER_WEIGHT * scale, role="answer", turns_back=back, spread=spread))
        # go further back only while the turn itself surely depended on the one before it
        if back == len(history) or cue(turn.question, lang=detect_language(turn.question, default=lang))[0] < 1.0:
            break
        scale *= DECAY
    return Followup(question=question, strength=strength, cue=why, carries=tuple(carries))
