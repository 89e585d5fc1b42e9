"""The classic ELIZA interpreter (Weizenbaum, CACM 1966) running the DOCTOR script.

The default responder of our agents: plain Python, with no Django and no network (the
``eliza`` contract in ``pyproject.toml``).

The algorithm, as in the paper: the input is cut into clauses at punctuation and "but"; words
are scanned and keywords collected on a keystack by rank; at a delimiter the text so far is
dropped if it held no keyword, and the rest is dropped if it did. The clause is reflected
("my" -> "your" ...), then the top keyword's decomposition rules are tried in order; the first
that matches picks its next reassembly (in turn, not at random), which may be text, a jump to
another keyword (optionally rebuilding the input first) or "newkey" (try the next keyword).
When "my" is the top keyword a transformed copy of the input is queued in memory, and said
later when an input has no usable keyword; failing that, a "none" reply is said.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from bisect import bisect_left
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from . import doctor
from .base import Responder, ResponderError, ResponderReply, ResponderRequest

DEFAULT_MAX_INPUT_CHARS = 2000
DEFAULT_MAX_CONVERSATIONS = 10_000
# Remembered "my ..." statements per conversation; the oldest is dropped past this.
MEMORY_LIMIT = 32
# A goto chain longer than this means a broken script, not a long conversation.
MAX_GOTO_HOPS = 16

_WORD_OR_DELIMITER_RE = re.compile(r"[^\W_]+(?:['-][^\W_]+)*|[.,;:!?]")
_DELIMITER_CHARS = frozenset(".,;:!?")
_COMPONENT_RE = re.compile(r"\((\d+)\)")
_LONE_I_RE = re.compile(r"\bi\b")
_SPACE_BEFORE_PUNCT_RE = re.compile(r"\s+([.,;:!?])")
# Typographic apostrophes (U+2019 ...) would otherwise split "I'm" into "i" and "m".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})

# Reflection leaves "i" where English wants "me" ("you argue with i"); these are the places
# where an echoed "i" is an object.
_PREPOSITIONS = frozenset(
    {
        "about",
        "above",
        "after",
        "against",
        "along",
        "among",
        "around",
        "at",
        "before",
        "behind",
        "below",
        "beside",
        "between",
        "by",
        "for",
        "from",
        "in",
        "into",
        "like",
        "near",
        "of",
        "off",
        "on",
        "onto",
        "over",
        "than",
        "through",
        "to",
        "toward",
        "towards",
        "under",
        "upon",
        "with",
        "without",
    }
)
# Reflection is word by word, so verb agreement breaks ("i are"); repaired in echoes only,
# because the script's patterns are written against the unrepaired form.
_AGREEMENT_FIXES: dict[tuple[str, str], tuple[str, str]] = {
    ("i", "are"): ("i", "am"),
    ("are", "i"): ("am", "i"),
    ("you", "was"): ("you", "were"),
    ("was", "you"): ("were", "you"),
}


@dataclass(frozen=True)
class _Token:
    """One decomposition token: ``*`` (``words is None``) or a set of acceptable words."""

    words: frozenset[str] | None


@dataclass(frozen=True)
class _CompiledRule:
    decomposition: str
    pattern: tuple[_Token, ...]
    reassemblies: tuple[str, ...]


def compile_pattern(decomposition: str) -> tuple[_Token, ...]:
    """Compile a decomposition written in :mod:`.doctor` notation for :func:`match`."""
    tokens = []
    for part in decomposition.split():
        if part == "*":
            tokens.append(_Token(None))
        elif part.startswith("@"):
            tokens.append(_Token(frozenset(doctor.SYNONYMS[part[1:]])))
        else:
            tokens.append(_Token(frozenset({part})))
    return tuple(tokens)


def _compile_rule(rule: doctor.Rule) -> _CompiledRule:
    return _CompiledRule(rule.decomposition, compile_pattern(rule.decomposition), rule.reassemblies)


_RULES: dict[str, tuple[_CompiledRule, ...]] = {
    name: tuple(_compile_rule(rule) for rule in keyword.rules)
    for name, keyword in doctor.KEYWORDS.items()
}
_MEMORY_RULE = _compile_rule(doctor.MEMORY_RULE)


def match(pattern: tuple[_Token, ...], words: tuple[str, ...]) -> list[tuple[str, ...]] | None:
    """Match ``words`` against a compiled decomposition; return its components or ``None``.

    A ``*`` only tries ends where the next token can match, and failed (token, position)
    pairs are remembered, so a long hostile input cannot make the backtracking explode.
    """
    n = len(words)
    hits: list[list[int]] = [
        [] if tok.words is None else [i for i, w in enumerate(words) if w in tok.words]
        for tok in pattern
    ]
    # stars_after[pi]: whether pattern[pi:] holds a star; without one, the rest has a fixed
    # length and a star before it has exactly one possible end.
    stars_after = [any(tok.words is None for tok in pattern[pi:]) for pi in range(len(pattern))]
    failed: set[tuple[int, int]] = set()
    parts: list[tuple[str, ...]] = []

    def walk(pi: int, wi: int) -> bool:
        if pi == len(pattern):
            return wi == n
        if (pi, wi) in failed:
            return False
        tok = pattern[pi]
        if tok.words is None:
            if pi + 1 == len(pattern):
                parts.append(words[wi:])
                return True
            if not stars_after[pi + 1]:
                end = n - (len(pattern) - pi - 1)
                ends: Iterable[int] = (end,) if end >= wi else ()
            elif pattern[pi + 1].words is None:
                ends = range(wi, n + 1)
            else:
                nxt = hits[pi + 1]
                ends = nxt[bisect_left(nxt, wi) :]
            for end in ends:
                parts.append(words[wi:end])
                if walk(pi + 1, end):
                    return True
                parts.pop()
        elif wi < n and words[wi] in tok.words:
            parts.append((words[wi],))
            if walk(pi + 1, wi + 1):
                return True
            parts.pop()
        failed.add((pi, wi))
        return False

    return parts if walk(0, 0) else None


def tokenize(text: str) -> list[str]:
    """Lower-cased words and delimiter characters of ``text``; everything else is dropped."""
    # NFKC folds look-alikes such as fullwidth letters into the ASCII the script is written in.
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    return _WORD_OR_DELIMITER_RE.findall(text)


def select_clause(tokens: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The clause to answer and its keystack, highest rank first.

    A keyword outranking the current top goes on top, any other goes to the bottom, so among
    equals the first one met wins, as in the original.
    """
    clause: list[str] = []
    stack: list[str] = []
    for token in tokens:
        if token in _DELIMITER_CHARS or token in doctor.DELIMITER_WORDS:
            if stack:
                break
            clause = []
            continue
        clause.append(token)
        keyword = doctor.KEYWORDS.get(token)
        if keyword is None or token in stack:
            continue
        if stack and keyword.rank > doctor.KEYWORDS[stack[0]].rank:
            stack.insert(0, token)
        else:
            stack.append(token)
    return tuple(clause), stack


def reflect(words: tuple[str, ...]) -> tuple[str, ...]:
    """Apply the script's pre-substitutions (pronoun reflection) to every word at once."""
    return tuple(doctor.PRE_SUBSTITUTIONS.get(word, word) for word in words)


def _fragment_text(words: tuple[str, ...]) -> str:
    fixed = list(words)
    for i in range(len(fixed) - 1):
        repaired = _AGREEMENT_FIXES.get((fixed[i], fixed[i + 1]))
        if repaired:
            fixed[i], fixed[i + 1] = repaired
    for i, word in enumerate(fixed):
        if word != "i":
            continue
        is_last = i == len(fixed) - 1
        if (not is_last and fixed[i + 1] == "to") or (
            i > 0 and (is_last or fixed[i - 1] in _PREPOSITIONS)
        ):
            fixed[i] = "me"
    return " ".join(fixed)


def _fill(template: str, parts: list[tuple[str, ...]]) -> str:
    def component(m: re.Match[str]) -> str:
        index = int(m.group(1)) - 1
        return _fragment_text(parts[index]) if 0 <= index < len(parts) else ""

    return _COMPONENT_RE.sub(component, template)


def _rebuild(template: str, parts: list[tuple[str, ...]]) -> tuple[str, ...]:
    # The original's PRE: a new input built from components, still in reflected form, so it
    # is not reflected again nor repaired for agreement.
    words: list[str] = []
    for item in template.split():
        m = _COMPONENT_RE.fullmatch(item)
        if m is None:
            words.append(item)
        elif 0 < int(m.group(1)) <= len(parts):
            words.extend(parts[int(m.group(1)) - 1])
    return tuple(words)


def tidy(text: str) -> str:
    """Spacing, the pronoun "I" and the first letter of a reply."""
    text = " ".join(text.split())
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    text = _LONE_I_RE.sub("I", text)
    if text and text[-1] not in ".?!":
        text += "."
    return text[:1].upper() + text[1:]


@dataclass
class _Conversation:
    """What ELIZA remembers of one channel: where each reassembly list is, and the memory."""

    cursors: dict[tuple[str, int], int] = field(default_factory=dict)
    memory: deque[str] = field(default_factory=lambda: deque(maxlen=MEMORY_LIMIT))

    def next_index(self, key: tuple[str, int], size: int) -> int:
        used = self.cursors.get(key, 0)
        self.cursors[key] = used + 1
        return used % size


# Cursor keys for the lists that belong to no keyword; a colon cannot occur in a keyword.
_XNONE_KEY = (":xnone", 0)
_MEMORY_KEY = (":memory", 0)


def _try_keyword(
    keyword: str, words: tuple[str, ...], conv: _Conversation
) -> tuple[str, str] | None:
    """Answer with ``keyword``'s rules (following gotos); ``None`` means "newkey"."""
    chain = [keyword]
    for _hop in range(MAX_GOTO_HOPS):
        for index, rule in enumerate(_RULES.get(keyword, ())):
            parts = match(rule.pattern, words)
            if parts is None:
                continue
            choice = conv.next_index((keyword, index), len(rule.reassemblies))
            reassembly = rule.reassemblies[choice]
            if reassembly == doctor.NEWKEY:
                return None
            if reassembly.startswith("="):
                target, _, pre = reassembly[1:].partition(":")
                if pre:
                    words = _rebuild(pre, parts)
                keyword = target
                chain.append(target)
                break
            thought = (
                f"keyword {' -> '.join(chain)}; decomposition '{rule.decomposition}'; "
                f"reassembly {choice + 1} of {len(rule.reassemblies)}"
            )
            return tidy(_fill(reassembly, parts)), thought
        else:
            # No decomposition matched: the original moves on to the next keyword.
            return None
    return None


def _remember(words: tuple[str, ...], conv: _Conversation) -> bool:
    parts = match(_MEMORY_RULE.pattern, words)
    if parts is None or not parts[2]:
        return False
    reassemblies = _MEMORY_RULE.reassemblies
    choice = conv.next_index(_MEMORY_KEY, len(reassemblies))
    conv.memory.append(tidy(_fill(reassemblies[choice], parts)))
    return True


def _xnone(conv: _Conversation, why: str) -> tuple[str, str]:
    choice = conv.next_index(_XNONE_KEY, len(doctor.XNONE))
    return doctor.XNONE[choice], f"{why}; xnone {choice + 1} of {len(doctor.XNONE)}"


def answer(text: str, conv: _Conversation) -> tuple[str, str]:
    """ELIZA's reply to ``text`` and a note on the rule that produced it; updates ``conv``."""
    tokens = tokenize(text)
    if not any(token not in _DELIMITER_CHARS for token in tokens):
        return _xnone(conv, "empty input")
    clause, stack = select_clause(tokens)
    words = reflect(clause)
    note = ""
    if stack and stack[0] == doctor.MEMORY_KEYWORD and _remember(words, conv):
        note = "; memory queued"
    for keyword in stack:
        result = _try_keyword(keyword, words, conv)
        if result is not None:
            return result[0], result[1] + note
    if conv.memory:
        return conv.memory.popleft(), "no keyword; memory recalled"
    return _xnone(conv, "no keyword")


def _positive_int(options: Mapping[str, Any], name: str, default: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ResponderError(f"ElizaResponder option {name!r} must be a positive integer")
    return value


@dataclass(eq=False)
class ElizaResponder(Responder):
    """Weizenbaum's ELIZA with the DOCTOR script; state is kept per ``channel_id``.

    Options: ``max_input_chars`` (default 2000; the rest of an input is ignored) and
    ``max_conversations`` (default 10000; the least recently used channel is forgotten).
    """

    greeting: ClassVar[str] = doctor.GREETING

    _max_input_chars: int = field(default=DEFAULT_MAX_INPUT_CHARS, init=False, repr=False)
    _max_conversations: int = field(default=DEFAULT_MAX_CONVERSATIONS, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _conversations: OrderedDict[str, _Conversation] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self._max_input_chars = _positive_int(
            self.options, "max_input_chars", DEFAULT_MAX_INPUT_CHARS
        )
        self._max_conversations = _positive_int(
            self.options, "max_conversations", DEFAULT_MAX_CONVERSATIONS
        )

    @property
    def conversation_count(self) -> int:
        """How many channels ELIZA currently remembers."""
        with self._lock:
            return len(self._conversations)

    def respond(self, request: ResponderRequest) -> ResponderReply | None:
        text = (request.text or "")[: self._max_input_chars]
        # One lock for all channels: an answer takes microseconds, and a per-channel lock
        # would need its own bookkeeping under this lock anyway.
        with self._lock:
            conv = self._conversations.get(request.channel_id)
            if conv is None:
                conv = self._conversations[request.channel_id] = _Conversation()
                while len(self._conversations) > self._max_conversations:
                    self._conversations.popitem(last=False)
            else:
                self._conversations.move_to_end(request.channel_id)
            reply, thought = answer(text, conv)
        return ResponderReply(text=reply or doctor.XNONE[0], thought=thought, actions=("REPLY",))
