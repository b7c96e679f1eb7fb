"""`mnist-pipeline predict`: users' images made MNIST-like, and a trained model's digits for them;
and the test set's variants written unlike MNIST that the evaluate stage scores (variants.py).

May import `tracking` (to load MLflow models), `data`, `config` and `plumbing`; no
TensorFlow at import time.
"""
