"""The elizaOS messaging REST API: views translate HTTP to service calls and back.

May import services, selectors, the bus (read-only: metrics) and exceptions; never agents'
internals or the real-time layer.
"""
