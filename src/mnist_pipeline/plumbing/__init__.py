"""Plumbing every layer may use: one-line errors (a full disk's too), atomic files and locks, signal handling,
side processes, profiling, quiet logs by default (verbosity.py), and the workspace's paths.

Imports the standard library, PyYAML and psutil, never another `mnist_pipeline` package.
"""
