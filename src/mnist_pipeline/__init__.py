"""mnist-pipeline: a tracked, reproducible Keras MNIST training pipeline.

Importing the package is cheap: TensorFlow, Keras and MLflow load only in the modules
that need them (training, evaluation, tracking), so that download and preprocess stay fast.
It does quiet TensorFlow's native start-up logging first (plumbing/verbosity.py), and lets
Keras load without the scikit-learn it never uses here (plumbing/lean_imports.py), since
every process imports this module before TensorFlow and Keras.
"""

from mnist_pipeline.plumbing.lean_imports import keras_without_sklearn
from mnist_pipeline.plumbing.verbosity import quiet_native_logs

__version__ = "0.1.0"

quiet_native_logs()
keras_without_sklearn()
