"""The internal message bus: typed events, written to the outbox with their transaction, sent
after commit, delivered through Django signals.

``events`` is the catalogue, ``publish`` the one door in, ``outbox`` and ``relay`` what makes
every committed event leave, ``dispatch`` delivery in one process (and its scopes), ``metrics``
what it measured, ``transports`` how events cross process boundaries. Who listens to what is in
:mod:`elizabus.wiring`, above this package.
It knows no domain model, service, API, agent or real time; what it imports is checked by the
``layers`` contract in ``pyproject.toml`` (docs/architecture.md).
"""
