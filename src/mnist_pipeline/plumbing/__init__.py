"""Plumbing every layer may use: one-line errors, atomic files and locks, signal handling,
side processes, profiling, and the workspace's paths.

Imports only the standard library and small helpers (psutil), never another
`mnist_pipeline` package.
"""
