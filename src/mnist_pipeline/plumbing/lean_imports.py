"""Keras without scikit-learn: about a second off the start of every process that trains.

Keras imports scikit-learn (and with it SciPy) as it loads, for its scikit-learn wrappers
(`keras.wrappers.SKLearnClassifier` and its kin), whenever scikit-learn is installed, and
MLflow installs it. The pipeline uses none of those wrappers. So while Keras' wrapper package
loads, `sklearn` reads as not installed (`sys.modules["sklearn"] = None`, Python's documented
way), and Keras takes the branch it has for that; once the package has loaded, scikit-learn
imports as usual for anything else (MLflow, the tests). Where scikit-learn was imported
before Keras, nothing changes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mnist_pipeline.plumbing.import_hooks import OnFirstImport

KERAS_WRAPPERS = "keras.src.wrappers"  # the package whose modules try `import sklearn`
SKLEARN = "sklearn"


@contextmanager
def sklearn_not_installed() -> Iterator[None]:
    """Within the block, `import sklearn` fails as if it were not installed (unless it is loaded)."""
    hidden = SKLEARN not in sys.modules
    if hidden:
        sys.modules[SKLEARN] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if hidden and sys.modules.get(SKLEARN, ...) is None:
            del sys.modules[SKLEARN]


_HOOK = OnFirstImport(KERAS_WRAPPERS, sklearn_not_installed)


def keras_without_sklearn() -> None:
    """Let Keras load without importing scikit-learn (unless it is loaded already)."""
    _HOOK.install()
