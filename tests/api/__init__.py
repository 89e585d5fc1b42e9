"""Tests of the REST API, mirroring ``elizabus/api``."""
