"""Print the newest sweep of the MLflow store of the repository here as one JSON line; with
`--models` the URIs of the registry champion's two flavours; with `--epochs` the newest run's
per-epoch validation accuracy and training seconds elapsed.

Run by the benchmark in its clone (a process of its own, so that the benchmark itself never
imports MLflow): the parent run and, for each child run (a sweep job), its start and end
(epoch seconds), its parameters and its metrics (`train_seconds`: the fit; `test_accuracy`).
"""

from __future__ import annotations

import json
import sys

from mlflow.tracking import MlflowClient

from mnist_pipeline.config import load_params
from mnist_pipeline.plumbing.workspace import Workspace
from mnist_pipeline.stages.train import ELAPSED_SECONDS
from mnist_pipeline.tracking.records import PARENT_TAG
from mnist_pipeline.tracking.server import tracking_uri


def _run(run: object) -> dict[str, object]:
    info, data = run.info, run.data  # type: ignore[attr-defined]
    return {
        "run_id": info.run_id,
        "name": info.run_name,
        "status": info.status,
        "start_s": info.start_time / 1000,
        "end_s": (info.end_time or info.start_time) / 1000,
        "params": dict(data.params),
        "metrics": dict(data.metrics),
    }


def champion_models(client: MlflowClient, model_name: str) -> dict[str, str]:
    """`models:/` URIs of the champion's Keras model (through the registry, as the README serves
    it) and of the ONNX export the same run logged beside it."""
    champion = client.get_model_version_by_alias(model_name, "champion")
    outputs = client.get_run(champion.run_id).outputs.model_outputs
    onnx = next(o.model_id for o in outputs if client.get_logged_model(o.model_id).name == "model_onnx")
    return {"keras": f"models:/{model_name}@champion", "onnx": f"models:/{onnx}"}


def epochs(client: MlflowClient, run_id: str) -> list[dict[str, float]]:
    """Per epoch (in order): the training seconds elapsed at its end and its validation accuracy."""
    series = {
        key: {m.step: m.value for m in client.get_metric_history(run_id, key)}
        for key in (ELAPSED_SECONDS, "val_accuracy")
    }
    return [{key: values[step] for key, values in series.items()} for step in sorted(series[ELAPSED_SECONDS])]


def main() -> None:
    workspace = Workspace.find()
    params = load_params(workspace.params_file)
    tracking = params.tracking
    client = MlflowClient(tracking_uri(tracking, workspace))
    if "--models" in sys.argv[1:]:
        print(json.dumps(champion_models(client, params.registry.model_name)))
        return
    experiment = client.get_experiment_by_name(tracking.experiment)
    runs = client.search_runs([experiment.experiment_id], max_results=5000, order_by=["attributes.start_time DESC"])
    if "--epochs" in sys.argv[1:]:
        print(json.dumps(epochs(client, runs[0].info.run_id)))
        return
    children = [run for run in runs if PARENT_TAG in run.data.tags]
    parent_id = children[0].data.tags[PARENT_TAG] if children else None
    parent = next((_run(run) for run in runs if run.info.run_id == parent_id), None)
    jobs = [_run(run) for run in reversed(children) if run.data.tags[PARENT_TAG] == parent_id]
    print(json.dumps({"parent": parent, "jobs": jobs, "runs_in_store": len(runs)}))


if __name__ == "__main__":
    main()
