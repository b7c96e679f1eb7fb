"""Where a pipeline run keeps its files in MLflow: the artifact folders the train stage, the
evaluate stage and the sweep callback write into (the README's table of what a run holds), and the tag
that ties a model folder to its run."""

FIGURES = "figures"  # every picture
CONFIG = "config"  # resolved.yaml, params.yaml, and a sweep job's hydra/ folder
REPORTS = "reports"  # metrics, history, per-class table, confusion matrix

# The tag naming what a training run saved: the digest of the train stage's output folder
# (plumbing.files.folder_digest). The folder holds nothing that differs between two runs of
# the same config and seed (a run id would), so DVC sees the same bytes; the evaluate stage
# finds the run by this tag, whichever way the folder got there (trained, or checked out by DVC).
MODEL_DIGEST_TAG = "mnist_pipeline.model_digest"
