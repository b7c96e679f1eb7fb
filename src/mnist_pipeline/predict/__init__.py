"""`mnist-pipeline predict`: users' images made MNIST-like, and a trained model's digits for them.

May import `tracking` (to load MLflow models), `data`, `config` and `plumbing`; no
TensorFlow at import time.
"""
