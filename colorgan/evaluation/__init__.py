"""Metrics, the evaluation protocol, experiment suites and their reports."""
