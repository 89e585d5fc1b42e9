"""Service tests share the bus fixtures (``published``, ``world``, ``connect_receiver``).

They are defined in ``tests/bus/conftest.py`` and imported here until ``tests/conftest.py`` takes
them.
"""

from tests.bus.conftest import connect_receiver, published, world

__all__ = ["connect_receiver", "published", "world"]
