"""The plain Keras script this project replaces, verbatim in its math.

Kept as the baseline that benchmarks and the default pipeline config are compared with.
It reads MNIST from the folder in $MNIST_MIRROR (Keras' mnist.npz layout) instead of
downloading it. `--subset N` / `--epochs E` exist only so the benchmark's smoke test can
run it small; the defaults are the reference.
"""

import argparse
import os
import sys

import keras
import numpy as np

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--subset", type=int, default=None, help="use only the first N training images")
parser.add_argument("--epochs", type=int, default=5)
args = parser.parse_args()

keras.utils.set_random_seed(1)

with np.load(os.path.join(os.environ["MNIST_MIRROR"], "mnist.npz")) as data:
    x_train, y_train = data["x_train"][: args.subset], data["y_train"][: args.subset]
    x_test, y_test = data["x_test"], data["y_test"]

x_train = x_train.astype("float32").reshape(-1, 28, 28, 1) / 255.0
x_test = x_test.astype("float32").reshape(-1, 28, 28, 1) / 255.0
y_train = keras.utils.to_categorical(y_train, 10)
y_test = keras.utils.to_categorical(y_test, 10)

model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, validation_split=0.2, verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test_accuracy={accuracy:.4f} test_loss={loss:.4f}", file=sys.stdout)
