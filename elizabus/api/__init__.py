"""The elizaOS messaging REST API: views translate HTTP to service calls and back.

What it may import is checked by the contracts in ``pyproject.toml`` (docs/architecture.md):
never the agent services or the real-time layer.
"""
