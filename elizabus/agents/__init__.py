"""Agent services: they take messages from the bus, check them, record memories and answer.

May import the services and selectors layers and the bus; never the API or real-time layers.
"""
