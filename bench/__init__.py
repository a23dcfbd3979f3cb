"""Benchmarks (dev only, never shipped): ``make bench`` / ``python -m bench``.

Measures raspa against the portal's physical limit and against the user's original
Celery + Redis design (``bench.peers.celery_redis``), prints one table and writes it to
``docs/benchmarks.md``. Every timing is a ratio measured within one run.
"""
