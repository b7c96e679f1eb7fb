"""Where a pipeline run keeps its files in MLflow: the artifact folders the train stage, the
evaluate stage and the sweep callback write into (the README's table of what a run holds)."""

FIGURES = "figures"  # every picture
CONFIG = "config"  # resolved.yaml, params.yaml, and a sweep job's hydra/ folder
REPORTS = "reports"  # metrics, history, per-class table, confusion matrix
