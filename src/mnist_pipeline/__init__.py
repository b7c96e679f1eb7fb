"""mnist-pipeline: a tracked, reproducible Keras MNIST training pipeline.

Importing the package is cheap: TensorFlow, Keras and MLflow load only in the modules
that need them (training, evaluation, tracking), so that download and preprocess stay fast.
"""

__version__ = "0.1.0"
