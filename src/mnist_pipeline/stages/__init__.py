"""Orchestration: the pipeline's stages as functions, params.yaml kept in sync with conf/,
and a Hydra sweep's jobs and callback.

Wires `data`, `learn`, `tracking` and `predict` (evaluate scores the test set's variants as
`predict` prepares and runs them) together; imported only by the entry points
(`pipelines/`, `cli.py`).
"""
