"""Configuration experiments for the benchmarks: settings, a database backend and an ASGI entry
point that differ from the project's only where an experiment says so. Nothing here is used by
the project itself; ``bench/rest.py --experiment ...`` selects them (see bench/README.md)."""
