"""MLflow: the store, logging beside training, the model registry, run names and tags,
and the runs table.

The only code that imports mlflow (server.py answers without it); may import `config` and `plumbing`, never `learn`
or `stages`.
"""
