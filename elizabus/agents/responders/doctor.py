"""Weizenbaum's DOCTOR script (CACM 9(1), 1966, appendix), written down as plain Python data.

This module is data only: the interpreter lives in :mod:`.eliza`, so a different script can be
swapped in by writing another module of this shape.

Notation (ours, not the original's S-expressions):

* A decomposition is a space separated pattern over the *substituted* input words: ``*``
  matches any sequence of words (possibly none; the original's ``0``), ``@name`` matches one
  word of the synonym group ``name`` (the original's ``(/NAME)`` and ``(* A B)``), anything
  else matches that literal word. Each pattern token is one numbered component, from 1.
* A reassembly is either text in which ``(n)`` is replaced by component ``n``, or
  ``=keyword`` (continue with that keyword's rules; the original's ``(=KEYWORD)``), or
  ``=keyword:text`` (rebuild the input from ``text`` first, then continue with ``keyword``;
  the original's ``(PRE (text) (=KEYWORD))``), or :data:`NEWKEY` (give up on this keyword and
  try the next one on the keystack).
* Reassemblies of one decomposition are used in turn, cycling, as the original did; their
  order follows the appendix, which is what reproduces the paper's transcript.
"""

from __future__ import annotations

from typing import NamedTuple

GREETING = "How do you do. Please tell me your problem."

NEWKEY = ":newkey"


class Rule(NamedTuple):
    """One decomposition pattern and the reassemblies used in turn when it matches."""

    decomposition: str
    reassemblies: tuple[str, ...]


class Keyword(NamedTuple):
    """A keyword's precedence and its decomposition rules, tried in order."""

    rank: int
    rules: tuple[Rule, ...]


def _goto(target: str, rank: int = 0) -> Keyword:
    # The original's "(HOW (=WHAT))": a keyword with no rules of its own.
    return Keyword(rank, (Rule("*", (f"={target}",)),))


# Applied word by word, all at once, before any matching: the reflection of the speaker's
# pronouns ("my" becomes "your") and the spelling fixes of the original ("dont" -> "don't").
# "you" becomes "i" and "me" becomes "you", as in the original; the interpreter turns an "i"
# in object position back into "me" when it echoes a fragment.
PRE_SUBSTITUTIONS: dict[str, str] = {
    "dont": "don't",
    "cant": "can't",
    "wont": "won't",
    "dreamed": "dreamt",
    "dreams": "dream",
    "mom": "mother",
    "dad": "father",
    "were": "was",
    "me": "you",
    "you're": "i'm",
    "i'm": "you're",
    "myself": "yourself",
    "yourself": "myself",
    "am": "are",
    "your": "my",
    "my": "your",
    "i": "you",
    "you": "i",
    # Not in the 1966 appendix; the same reflection extended to other contractions and the
    # possessive pronouns so echoed fragments read right.
    "i've": "you've",
    "you've": "i've",
    "i'll": "you'll",
    "you'll": "i'll",
    "i'd": "you'd",
    "you'd": "i'd",
    "mine": "yours",
    "yours": "mine",
}

# The original's DLIST tags (/BELIEF, /FAMILY) and inline alternatives (* WANT NEED), named.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "belief": ("feel", "think", "believe", "wish"),
    "family": ("mother", "mom", "father", "dad", "sister", "brother", "wife", "children"),
    "desire": ("want", "need"),
    "sad": ("sad", "unhappy", "depressed", "sick"),
    "happy": ("happy", "elated", "glad", "better"),
    "cannot": ("can't", "cannot"),
    "everyone": ("everyone", "everybody", "nobody", "noone"),
    "be": ("am", "is", "are", "was"),
}

# Words that end a clause besides punctuation; the original knew only "but".
DELIMITER_WORDS: frozenset[str] = frozenset({"but"})

# When "my" is the top keyword, a copy of the input transformed by one of these is queued;
# it is said later when an input has no keyword. Used in turn, like any reassembly list.
MEMORY_KEYWORD = "my"
MEMORY_RULE = Rule(
    "* your *",
    (
        "Does that have anything to do with the fact that your (3)?",
        "Let's discuss further why your (3).",
        "Earlier you said your (3).",
        "But your (3)?",
    ),
)

# The original's NONE: said when no keyword applies and nothing is remembered.
XNONE: tuple[str, ...] = (
    "I'm not sure I understand you fully.",
    "Please go on.",
    "What does that suggest to you?",
    "Do you feel strongly about discussing such things?",
)

KEYWORDS: dict[str, Keyword] = {
    "sorry": Keyword(
        0,
        (
            Rule(
                "*",
                (
                    "Please don't apologize.",
                    "Apologies are not necessary.",
                    "What feelings do you have when you apologize?",
                    "I've told you that apologies are not required.",
                ),
            ),
        ),
    ),
    "remember": Keyword(
        5,
        (
            Rule(
                "* you remember *",
                (
                    "Do you often think of (4)?",
                    "Does thinking of (4) bring anything else to mind?",
                    "What else do you remember?",
                    "Why do you remember (4) just now?",
                    "What in the present situation reminds you of (4)?",
                    "What is the connection between me and (4)?",
                ),
            ),
            Rule(
                "* do i remember *",
                (
                    "Did you think I would forget (5)?",
                    "Why do you think I should recall (5) now?",
                    "What about (5)?",
                    "=what",
                    "You mentioned (5)?",
                ),
            ),
            Rule("*", (NEWKEY,)),
        ),
    ),
    "if": Keyword(
        3,
        (
            Rule(
                "* if *",
                (
                    "Do you think it's likely that (3)?",
                    "Do you wish that (3)?",
                    "What do you think about (3)?",
                    "Really, (2) (3)?",
                ),
            ),
        ),
    ),
    "dreamt": Keyword(
        4,
        (
            Rule(
                "* you dreamt *",
                (
                    "Really, (4)?",
                    "Have you ever fantasied (4) while you were awake?",
                    "Have you dreamt (4) before?",
                    "=dream",
                    NEWKEY,
                ),
            ),
        ),
    ),
    "dreamed": _goto("dreamt", 4),
    "dream": Keyword(
        3,
        (
            Rule(
                "*",
                (
                    "What does that dream suggest to you?",
                    "Do you dream often?",
                    "What persons appear in your dreams?",
                    "Don't you believe that dream has something to do with your problem?",
                    NEWKEY,
                ),
            ),
        ),
    ),
    "dreams": _goto("dream", 3),
    "how": _goto("what"),
    "when": _goto("what"),
    "alike": _goto("dit", 10),
    "same": _goto("dit", 10),
    "certainly": _goto("yes"),
    "perhaps": Keyword(
        0,
        (
            Rule(
                "*",
                (
                    "You don't seem quite certain.",
                    "Why the uncertain tone?",
                    "Can't you be more positive?",
                    "You aren't sure?",
                    "Don't you know?",
                ),
            ),
        ),
    ),
    "maybe": _goto("perhaps"),
    "name": Keyword(
        15,
        (
            Rule(
                "*",
                (
                    "I am not interested in names.",
                    "I've told you before, I don't care about names -- please continue.",
                ),
            ),
        ),
    ),
    "deutsch": _goto("xfremd"),
    "francais": _goto("xfremd"),
    "italiano": _goto("xfremd"),
    "espanol": _goto("xfremd"),
    "xfremd": Keyword(0, (Rule("*", ("I am sorry, I speak only English.",)),)),
    "hello": Keyword(0, (Rule("*", ("How do you do. Please state your problem.",)),)),
    "computer": Keyword(
        50,
        (
            Rule(
                "*",
                (
                    "Do computers worry you?",
                    "Why do you mention computers?",
                    "What do you think machines have to do with your problem?",
                    "Don't you think computers can help people?",
                    "What about machines worries you?",
                    "What do you think about machines?",
                ),
            ),
        ),
    ),
    "machine": _goto("computer", 50),
    "machines": _goto("computer", 50),
    "computers": _goto("computer", 50),
    "am": Keyword(
        0,
        (
            Rule(
                "* are you *",
                (
                    "Do you believe you are (4)?",
                    "Would you want to be (4)?",
                    "You wish I would tell you you are (4)?",
                    "What would it mean if you were (4)?",
                    "=what",
                ),
            ),
            Rule("*", ("Why do you say 'am'?", "I don't understand that.")),
        ),
    ),
    "are": Keyword(
        0,
        (
            Rule(
                "* are i *",
                (
                    "Why are you interested in whether I am (4) or not?",
                    "Would you prefer if I weren't (4)?",
                    "Perhaps I am (4) in your fantasies.",
                    "Do you sometimes think I am (4)?",
                    "=what",
                ),
            ),
            Rule(
                "* are *",
                (
                    "Did you think they might not be (3)?",
                    "Would you like it if they were not (3)?",
                    "What if they were not (3)?",
                    "Possibly they are (3).",
                ),
            ),
        ),
    ),
    "your": Keyword(
        0,
        (
            Rule(
                "* my *",
                (
                    "Why are you concerned over my (3)?",
                    "What about your own (3)?",
                    "Are you worried about someone else's (3)?",
                    "Really, my (3)?",
                ),
            ),
        ),
    ),
    "was": Keyword(
        2,
        (
            Rule(
                "* was you *",
                (
                    "What if you were (4)?",
                    "Do you think you were (4)?",
                    "Were you (4)?",
                    "What would it mean if you were (4)?",
                    "What does '(4)' suggest to you?",
                    "=what",
                ),
            ),
            Rule(
                "* you was *",
                (
                    "Were you really?",
                    "Why do you tell me you were (4) now?",
                    "Perhaps I already knew you were (4).",
                ),
            ),
            Rule(
                "* was i *",
                (
                    "Would you like to believe I was (4)?",
                    "What suggests that I was (4)?",
                    "What do you think?",
                    "Perhaps I was (4).",
                    "What if I had been (4)?",
                ),
            ),
            Rule("*", (NEWKEY,)),
        ),
    ),
    "were": _goto("was", 2),
    "you're": Keyword(0, (Rule("* i'm *", ("=you:i are (3)",)),)),
    "i'm": Keyword(0, (Rule("* you're *", ("=i:you are (3)",)),)),
    "i": Keyword(
        0,
        (
            Rule(
                "* you @desire *",
                (
                    "What would it mean to you if you got (4)?",
                    "Why do you want (4)?",
                    "Suppose you got (4) soon?",
                    "What if you never got (4)?",
                    "What would getting (4) mean to you?",
                    "What does wanting (4) have to do with this discussion?",
                ),
            ),
            Rule(
                "* you are * @sad *",
                (
                    "I am sorry to hear you are (5).",
                    "Do you think coming here will help you not to be (5)?",
                    "I'm sure it's not pleasant to be (5).",
                    "Can you explain what made you (5)?",
                ),
            ),
            Rule(
                "* you are * @happy *",
                (
                    "How have I helped you to be (5)?",
                    "Has your treatment made you (5)?",
                    "What makes you (5) just now?",
                    "Can you explain why you are suddenly (5)?",
                ),
            ),
            Rule("* you was *", ("=was",)),
            Rule(
                "* you @belief you *",
                (
                    "Do you really think so?",
                    "But you are not sure you (5)?",
                    "Do you really doubt you (5)?",
                ),
            ),
            Rule(
                "* you are *",
                (
                    "Is it because you are (4) that you came to me?",
                    "How long have you been (4)?",
                    "Do you believe it normal to be (4)?",
                    "Do you enjoy being (4)?",
                ),
            ),
            Rule(
                "* you @cannot *",
                (
                    "How do you know you can't (4)?",
                    "Have you tried?",
                    "Perhaps you could (4) now.",
                    "Do you really want to be able to (4)?",
                ),
            ),
            Rule(
                "* you don't *",
                (
                    "Don't you really (4)?",
                    "Why don't you (4)?",
                    "Do you wish to be able to (4)?",
                    "Does that trouble you?",
                ),
            ),
            Rule(
                "* you feel *",
                (
                    "Tell me more about such feelings.",
                    "Do you often feel (4)?",
                    "Do you enjoy feeling (4)?",
                    "Of what does feeling (4) remind you?",
                ),
            ),
            Rule(
                "* you * i *",
                (
                    "Perhaps in your fantasy we (3) each other.",
                    "Do you wish to (3) me?",
                    "You seem to need to (3) me.",
                    "Do you (3) anyone else?",
                ),
            ),
            Rule(
                "*",
                (
                    "You say (1)?",
                    "Can you elaborate on that?",
                    "Do you say (1) for some special reason?",
                    "That's quite interesting.",
                ),
            ),
        ),
    ),
    "you": Keyword(
        0,
        (
            Rule("* i remind you of *", ("=dit",)),
            Rule(
                "* i are *",
                (
                    "What makes you think I am (4)?",
                    "Does it please you to believe I am (4)?",
                    "Do you sometimes wish you were (4)?",
                    "Perhaps you would like to be (4).",
                ),
            ),
            Rule(
                "* i * you",
                (
                    "Why do you think I (3) you?",
                    "You like to think I (3) you -- don't you?",
                    "What makes you think I (3) you?",
                    "Really, I (3) you?",
                    "Do you wish to believe I (3) you?",
                    "Suppose I did (3) you -- what would that mean?",
                    "Does someone else believe I (3) you?",
                ),
            ),
            Rule(
                "* i *",
                (
                    "We were discussing you -- not me.",
                    "Oh, I (3)?",
                    "You're not really talking about me -- are you?",
                    "What are your feelings now?",
                ),
            ),
        ),
    ),
    "yes": Keyword(
        0,
        (Rule("*", ("You seem quite positive.", "You are sure?", "I see.", "I understand.")),),
    ),
    "no": Keyword(
        0,
        (
            Rule(
                "*",
                (
                    "Are you saying 'no' just to be negative?",
                    "You are being a bit negative.",
                    "Why not?",
                    "Why 'no'?",
                ),
            ),
        ),
    ),
    "my": Keyword(
        2,
        (
            Rule(
                "* your * @family *",
                (
                    "Tell me more about your family.",
                    "Who else in your family (5)?",
                    "Your (4)?",
                    "What else comes to your mind when you think of your (4)?",
                ),
            ),
            Rule(
                "* your *",
                (
                    "Your (3)?",
                    "Why do you say your (3)?",
                    "Does that suggest anything else which belongs to you?",
                    "Is it important to you that (2) (3)?",
                ),
            ),
        ),
    ),
    "can": Keyword(
        0,
        (
            Rule(
                "* can i *",
                (
                    "You believe I can (4) don't you?",
                    "=what",
                    "You want me to be able to (4).",
                    "Perhaps you would like to be able to (4) yourself.",
                ),
            ),
            Rule(
                "* can you *",
                (
                    "Whether or not you can (4) depends on you more than on me.",
                    "Do you want to be able to (4)?",
                    "Perhaps you don't want to (4).",
                    "=what",
                ),
            ),
        ),
    ),
    "what": Keyword(
        0,
        (
            Rule(
                "*",
                (
                    "Why do you ask?",
                    "Does that question interest you?",
                    "What is it you really want to know?",
                    "Are such questions much on your mind?",
                    "What answer would please you most?",
                    "What do you think?",
                    "What comes to your mind when you ask that?",
                    "Have you asked such questions before?",
                    "Have you asked anyone else?",
                ),
            ),
        ),
    ),
    "because": Keyword(
        0,
        (
            Rule(
                "*",
                (
                    "Is that the real reason?",
                    "Don't any other reasons come to mind?",
                    "Does that reason seem to explain anything else?",
                    "What other reasons might there be?",
                ),
            ),
        ),
    ),
    "why": Keyword(
        0,
        (
            Rule(
                "* why don't i *",
                (
                    "Do you believe I don't (5)?",
                    "Perhaps I will (5) in good time.",
                    "Should you (5) yourself?",
                    "You want me to (5)?",
                    "=what",
                ),
            ),
            Rule(
                "* why can't you *",
                (
                    "Do you think you should be able to (5)?",
                    "Do you want to be able to (5)?",
                    "Do you believe this will help you to (5)?",
                    "Have you any idea why you can't (5)?",
                    "=what",
                ),
            ),
            Rule("*", ("=what",)),
        ),
    ),
    "everyone": Keyword(
        2,
        (
            Rule(
                "* @everyone *",
                (
                    "Really, (2)?",
                    "Surely not (2).",
                    "Can you think of anyone in particular?",
                    "Who, for example?",
                    "You are thinking of a very special person.",
                    "Who, may I ask?",
                    "Someone special perhaps.",
                    "You have a particular person in mind, don't you?",
                    "Who do you think you're talking about?",
                ),
            ),
        ),
    ),
    "everybody": _goto("everyone", 2),
    "nobody": _goto("everyone", 2),
    "noone": _goto("everyone", 2),
    "always": Keyword(
        1,
        (
            Rule(
                "*",
                (
                    "Can you think of a specific example?",
                    "When?",
                    "What incident are you thinking of?",
                    "Really, always?",
                ),
            ),
        ),
    ),
    "like": Keyword(
        10,
        (
            Rule("* @be * like *", ("=dit",)),
            Rule("*", (NEWKEY,)),
        ),
    ),
    "dit": Keyword(
        0,
        (
            Rule(
                "*",
                (
                    "In what way?",
                    "What resemblance do you see?",
                    "What does that similarity suggest to you?",
                    "What other connections do you see?",
                    "What do you suppose that resemblance is?",
                    "What is the connection?",
                    "Could there really be some connection?",
                    "How?",
                ),
            ),
        ),
    ),
}
