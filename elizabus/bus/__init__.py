"""The internal message bus: typed events, published after commit, delivered through Django signals.

``events`` is the catalogue, ``publish`` the one door in, ``wiring`` the one table of who listens,
``metrics`` what it measured, ``transports`` how events cross process boundaries.
May import Django and the app's conf; never models, services, the API, agents or real time
(except ``wiring``, whose job is to name the receivers).
"""
