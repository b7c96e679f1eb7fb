"""One module per measured part of the benchmark: each measures (`measure`) and renders its
markdown section (`render`); benchmarks/bench.py runs them in order on one clone."""
