"""Orchestration: the pipeline's stages as functions, params.yaml kept in sync with conf/,
and a Hydra sweep's jobs and callback.

Wires `data`, `learn` and `tracking` together; imported only by the entry points
(`pipelines/`, `cli.py`).
"""
