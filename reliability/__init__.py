"""Reliability proof (dev only, never shipped): fault-injection and load scenarios run
against the local stack, each printing its figures and failing when a criterion breaks.

``python -m reliability [scenario ...] [--param value ...] [--write docs/reliability.md]``
"""
