"""MNIST on disk: download from mirrors (verified), read IDX files, preprocess into splits.

Knows nothing of models or MLflow and never imports TensorFlow; may import `config` and
`plumbing`.
"""
