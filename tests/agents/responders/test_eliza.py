"""Unit tests of the ELIZA responder and its DOCTOR script; no database, no network."""

from __future__ import annotations

import re
import threading
import time

import pytest

from elizabus.agents.responders import doctor
from elizabus.agents.responders.base import ResponderError, ResponderReply, ResponderRequest
from elizabus.agents.responders.eliza import (
    ElizaResponder,
    compile_pattern,
    match,
    reflect,
    tokenize,
)

# The conversation printed in Weizenbaum's 1966 paper, in reply order.
PAPER_TRANSCRIPT = [
    ("Men are all alike.", "In what way?"),
    (
        "They're always bugging us about something or other.",
        "Can you think of a specific example?",
    ),
    ("Well, my boyfriend made me come here.", "Your boyfriend made you come here?"),
    ("He says I'm depressed much of the time.", "I am sorry to hear you are depressed."),
    ("It's true. I am unhappy.", "Do you think coming here will help you not to be unhappy?"),
    (
        "I need some help, that much seems certain.",
        "What would it mean to you if you got some help?",
    ),
    ("Perhaps I could learn to get along with my mother.", "Tell me more about your family."),
    ("My mother takes care of me.", "Who else in your family takes care of you?"),
    ("My father.", "Your father?"),
    ("You are like my father in some ways.", "What resemblance do you see?"),
    (
        "You are not very aggressive but I think you don't want me to notice that.",
        "What makes you think I am not very aggressive?",
    ),
    ("You don't argue with me.", "Why do you think I don't argue with you?"),
    ("You are afraid of me.", "Does it please you to believe I am afraid of you?"),
    (
        "My father is afraid of everybody.",
        "What else comes to your mind when you think of your father?",
    ),
    (
        "Bullies.",
        "Does that have anything to do with the fact that your boyfriend made you come here?",
    ),
]


def ask(responder: ElizaResponder, text: str, channel: str = "channel-1") -> ResponderReply:
    request = ResponderRequest(
        agent_id="agent-1",
        agent_name="Eliza",
        system_prompt="",
        channel_id=channel,
        message_id="message-1",
        author_id="user-1",
        author_name="User",
        text=text,
    )
    reply = responder.respond(request)
    assert reply is not None
    assert reply.text.strip()
    assert reply.actions == ("REPLY",)
    return reply


def say(responder: ElizaResponder, text: str, channel: str = "channel-1") -> str:
    return ask(responder, text, channel).text


def test_paper_transcript_is_reproduced_exactly() -> None:
    eliza = ElizaResponder()
    for said, expected in PAPER_TRANSCRIPT:
        assert say(eliza, said) == expected, said


def test_greeting_is_available() -> None:
    assert ElizaResponder.greeting == "How do you do. Please tell me your problem."


def test_thought_names_the_rule_that_fired() -> None:
    eliza = ElizaResponder()
    assert ask(eliza, "Men are all alike.").thought.startswith("keyword alike -> dit;")
    thought = ask(eliza, "He says I'm depressed.").thought
    assert "i'm -> i" in thought
    assert "'* you are * @sad *'" in thought
    assert ask(eliza, "Well, my car broke.").thought.endswith("memory queued")


def test_reassemblies_cycle_in_order_and_wrap() -> None:
    eliza = ElizaResponder()
    replies = [say(eliza, "I am sad.") for _ in range(5)]
    assert replies == [
        "I am sorry to hear you are sad.",
        "Do you think coming here will help you not to be sad?",
        "I'm sure it's not pleasant to be sad.",
        "Can you explain what made you sad?",
        "I am sorry to hear you are sad.",
    ]


def test_each_decomposition_rule_has_its_own_cycle() -> None:
    eliza = ElizaResponder()
    assert say(eliza, "I am sad") == "I am sorry to hear you are sad."
    assert say(eliza, "I am tall") == "Is it because you are tall that you came to me?"
    assert say(eliza, "I am sad") == "Do you think coming here will help you not to be sad?"
    assert say(eliza, "I am tall") == "How long have you been tall?"


def test_goto_redirection() -> None:
    eliza = ElizaResponder()
    # "how" and "when" have no rules of their own: they share the cycle of "what".
    assert say(eliza, "How old are you?") == "Why do you ask?"
    assert say(eliza, "When will this end?") == "Does that question interest you?"
    assert say(eliza, "What is this?") == "What is it you really want to know?"
    # "you're" is rebuilt as "I are ..." and handed to "you".
    assert say(eliza, "You're rude") == "What makes you think I am rude?"
    assert say(eliza, "Maybe.") == "You don't seem quite certain."
    assert say(eliza, "The computer broke") == "Do computers worry you?"
    assert say(eliza, "Machines scare me") == "Why do you mention computers?"


def test_newkey_falls_through_to_the_next_keyword() -> None:
    eliza = ElizaResponder()
    # "like" (rank 10) without a form of "to be" before it gives up in favour of "i".
    assert say(eliza, "I like cheese") == "You say you like cheese?"


def test_synonym_groups() -> None:
    eliza = ElizaResponder()
    assert say(eliza, "My sister hates me") == "Tell me more about your family."
    assert say(eliza, "My brother hates me") == "Who else in your family hates you?"
    assert say(eliza, "My mom is strict") == "Your mother?"
    assert say(eliza, "I feel I am ill") == "Do you really think so?"
    assert say(eliza, "I believe I can fly") == "But you are not sure you can fly?"
    assert say(eliza, "I want a dog") == "What would it mean to you if you got a dog?"
    assert say(eliza, "Nobody loves me") == "Really, nobody?"
    assert say(eliza, "Everybody hates me") == "Surely not everybody."


def test_keyword_rank_decides_and_first_clause_with_a_keyword_wins() -> None:
    eliza = ElizaResponder()
    # "computer" (50) beats "my" (2) and "i" (0).
    assert say(eliza, "I think my computer hates me") == "Do computers worry you?"
    # The first clause holds no keyword and is dropped; the third is never looked at.
    assert (
        say(eliza, "Well there. I need a holiday, my computer is broken")
        == "What would it mean to you if you got a holiday?"
    )


def test_pronoun_reflection() -> None:
    assert reflect(("i", "am", "sure", "you", "hate", "my", "cat")) == (
        "you",
        "are",
        "sure",
        "i",
        "hate",
        "your",
        "cat",
    )
    eliza = ElizaResponder()
    assert say(eliza, "Was I happy?") == "What if you were happy?"
    assert say(eliza, "Were you happy?") == "Would you like to believe I was happy?"
    assert say(eliza, "I was happy") == "Were you really?"
    assert say(eliza, "You love me") == "Why do you think I love you?"
    assert (
        say(eliza, "I want you to love me")
        == "What would it mean to you if you got me to love you?"
    )


def test_memory_is_first_in_first_out_and_cycles_its_forms() -> None:
    eliza = ElizaResponder()
    say(eliza, "My car is broken.")
    say(eliza, "My job is boring.")
    say(eliza, "My cat is old.")
    assert say(eliza, "Hmm.") == (
        "Does that have anything to do with the fact that your car is broken?"
    )
    assert say(eliza, "Hmm.") == "Let's discuss further why your job is boring."
    assert say(eliza, "Hmm.") == "Earlier you said your cat is old."
    assert say(eliza, "Hmm.") == "I'm not sure I understand you fully."


def test_xnone_fallbacks_cycle() -> None:
    eliza = ElizaResponder()
    assert [say(eliza, "Bullies.") for _ in range(5)] == [*doctor.XNONE, doctor.XNONE[0]]


def test_state_is_separate_per_channel() -> None:
    eliza = ElizaResponder()
    assert say(eliza, "Men are all alike.", "a") == "In what way?"
    assert say(eliza, "Men are all alike.", "b") == "In what way?"
    assert say(eliza, "Men are all alike.", "a") == "What resemblance do you see?"
    say(eliza, "My boyfriend made me come here.", "a")
    assert say(eliza, "Bullies.", "b") == "I'm not sure I understand you fully."
    assert say(eliza, "Bullies.", "a").endswith("your boyfriend made you come here?")


def test_least_recently_used_conversation_is_forgotten() -> None:
    eliza = ElizaResponder(options={"max_conversations": 2})
    say(eliza, "Men are all alike.", "a")
    say(eliza, "Men are all alike.", "b")
    say(eliza, "Men are all alike.", "a")  # "b" is now the least recently used
    say(eliza, "Men are all alike.", "c")
    assert eliza.conversation_count == 2
    assert say(eliza, "Men are all alike.", "a") == "What does that similarity suggest to you?"
    assert say(eliza, "Men are all alike.", "b") == "In what way?"  # forgotten, so fresh


def test_bad_options_are_rejected() -> None:
    for options in (
        {"max_conversations": 0},
        {"max_input_chars": "many"},
        {"max_input_chars": True},
    ):
        with pytest.raises(ResponderError):
            ElizaResponder(options=options)


def test_threads_share_the_responder_safely() -> None:
    eliza = ElizaResponder(options={"max_conversations": 50})
    errors: list[BaseException] = []
    results: dict[str, list[str]] = {}

    def converse(channel: str) -> None:
        try:
            results[channel] = [say(eliza, said, channel) for said, _ in PAPER_TRANSCRIPT]
            for n in range(40):
                say(eliza, f"My thing {n} is here, I am sad", f"{channel}-{n % 7}")
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=converse, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    expected = [reply for _, reply in PAPER_TRANSCRIPT]
    assert all(replies == expected for replies in results.values())
    assert len(results) == 8
    assert eliza.conversation_count <= 50


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", ",,, ; !?"])
def test_empty_input_gets_a_fallback(text: str) -> None:
    eliza = ElizaResponder()
    assert say(eliza, text) in doctor.XNONE


def test_very_long_input_is_capped_and_quick() -> None:
    eliza = ElizaResponder()
    hostile = [
        "you i " * 20_000 + "x",
        "i " * 50_000,
        "my your " * 30_000,
        "is like " * 30_000,
        "a" * 1_000_000,
        "you are i my your want need like is " * 5_000,
    ]
    for text in hostile:
        started = time.perf_counter()
        reply = say(eliza, text)
        assert time.perf_counter() - started < 1.0
        assert len(reply) < 5_000


def test_input_cap_is_an_option() -> None:
    eliza = ElizaResponder(options={"max_input_chars": 10})
    # Only "Bullies an" is read: the computer is never seen.
    assert say(eliza, "Bullies and computers") in doctor.XNONE


@pytest.mark.parametrize(
    "text",
    [
        "Ich spreche Deutsch, ça va? 日本語のテキスト 🙂🙂",
        "\x00\x01\x02 \ufeff \u202e reversed \u200b",
        "I\u2019m sad",
        "((((((((((*** @@@ (1) (2) (99) =what :newkey",
        "<script>alert('x')</script> DROP TABLE users; --",
        "İ AM SAD",
        "my",
        "you",
        "i",
        "but but but",
        "'",
    ],
)
def test_unicode_and_hostile_input_never_breaks(text: str) -> None:
    eliza = ElizaResponder()
    reply = say(eliza, text)
    assert reply[0].isupper() or not reply[0].isalpha()
    assert reply[-1] in ".?!"


def test_typographic_apostrophe_is_understood() -> None:
    assert say(ElizaResponder(), "I\u2019m sad") == "I am sorry to hear you are sad."


def test_fullwidth_letters_are_folded() -> None:
    fullwidth_i_am_sad = "\uff29 \uff41\uff4d \uff53\uff41\uff44"
    assert say(ElizaResponder(), fullwidth_i_am_sad) == "I am sorry to hear you are sad."


def test_foreign_language_and_names() -> None:
    eliza = ElizaResponder()
    assert say(eliza, "Parlez-vous francais?") == "I am sorry, I speak only English."
    assert say(eliza, "My name is Bob") == "I am not interested in names."


def test_tokenize_and_match() -> None:
    assert tokenize("Well, I can't—really!") == ["well", ",", "i", "can't", "really", "!"]
    words = ("you", "are", "very", "sad", "today")
    assert match(compile_pattern("* you are * @sad *"), words) == [
        (),
        ("you",),
        ("are",),
        ("very",),
        ("sad",),
        ("today",),
    ]
    assert match(compile_pattern("* i * you"), ("i", "love", "you")) is not None
    assert match(compile_pattern("* i * you"), ("i", "love", "you", "too")) is None


def test_script_is_consistent() -> None:
    component = re.compile(r"\((\d+)\)")
    for name, keyword in doctor.KEYWORDS.items():
        assert name == name.lower()
        assert keyword.rules, name
        for rule in keyword.rules:
            tokens = rule.decomposition.split()
            for token in tokens:
                if token.startswith("@"):
                    assert token[1:] in doctor.SYNONYMS, (name, token)
            assert rule.reassemblies, (name, rule)
            for reassembly in rule.reassemblies:
                if reassembly.startswith("="):
                    target = reassembly[1:].partition(":")[0]
                    assert target in doctor.KEYWORDS, (name, reassembly)
                for number in component.findall(reassembly):
                    assert 1 <= int(number) <= len(tokens), (name, rule.decomposition, reassembly)
