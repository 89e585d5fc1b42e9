"""Responders decide what an agent says. Each is chosen by a dotted path, like SESSION_ENGINE.

A responder takes and returns the plain dataclasses of :mod:`.base` and never touches the ORM,
so it can be tested, swapped or run elsewhere without a database.
"""
