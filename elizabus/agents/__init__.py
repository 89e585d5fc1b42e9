"""Agent services: they take messages from the bus, check them, record memories and answer.

What each module may import is checked by the contracts in ``pyproject.toml``
(docs/architecture.md): the agent services sit below the edges and above the services, the
responder contract (``responders/``, ``conversation.py``) below the services.
"""
