"""`mnist-pipeline predict` on digit images drawn as a user would, with the session's small CNN
(a local .keras file, or the same model through MLflow model URIs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, TrainedModel, pipeline_env, run
from drawn_digits import FONTS, draw_strokes, draw_text, font_path
from mnist_pipeline import cli
from mnist_pipeline.predict.imageprep import prepare

# Pen drawings in several sizes, pen widths, colours and backgrounds, and typeset digits.
STYLES = [
    {"size": (200, 200), "width": 14},
    {"size": (640, 480), "width": 6, "ink": (20, 30, 140), "paper": (250, 246, 232), "mode": "RGB"},
    {"size": (90, 120), "width": 9, "ink": 255, "paper": 0},
    {"size": (1000, 1000), "width": 70, "ink": (200, 30, 30), "paper": (255, 255, 255), "mode": "RGB"},
]


def drawn_digits(folder: Path) -> dict[str, int]:
    """Writes 10 digits x 4 pen styles + 10 typeset digits into `folder`: {file name: digit}."""
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, int] = {}
    for digit in range(10):
        for index, style in enumerate(STYLES):
            name = f"pen{index}-{digit}.{('png', 'jpg', 'bmp', 'png')[index]}"
            draw_strokes(digit, **style).save(folder / name)  # type: ignore[arg-type]
            truth[name] = digit
        font = font_path(FONTS[digit % len(FONTS)])
        if font is not None:
            light = digit % 2 == 0
            draw_text(digit, font, height=60 + 10 * digit, ink=0 if light else 255, paper=255 if light else 0).save(
                folder / f"font-{digit}.png"
            )
            truth[f"font-{digit}.png"] = digit
    return truth


def predict_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict]]:
    code = 0
    try:
        cli.main(["predict", "--json", *args])
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, json.loads(capsys.readouterr().out)


def test_drawn_digits_are_recognised(
    small_cnn: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = drawn_digits(tmp_path / "digits")
    code, results = predict_json([str(tmp_path / "digits"), "--model", str(small_cnn.model_file)], capsys)
    assert code == 0
    assert sorted(Path(r["image"]).name for r in results) == sorted(truth)
    wrong = {Path(r["image"]).name: r["digit"] for r in results if r["digit"] != truth[Path(r["image"]).name]}
    # The small test model reaches ~97% on MNIST; the full CNN gets these all right.
    assert len(wrong) <= 0.15 * len(truth), f"misread: {wrong}"
    # Each reported probability is the model's own softmax score of the digit it names.
    import keras

    inputs = np.stack([prepare(Path(r["image"]))[1] for r in results])
    scores = keras.saving.load_model(small_cnn.model_file).predict(inputs, verbose=0)
    assert [r["digit"] for r in results] == [int(d) for d in scores.argmax(axis=1)]
    assert [r["probability"] for r in results] == pytest.approx(scores.max(axis=1).tolist(), abs=1e-6)


def test_bad_files_are_reported_and_the_others_still_predicted(
    small_cnn: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draw_strokes(7).save(tmp_path / "seven.png")
    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    files = [tmp_path / "seven.png", tmp_path / "notes.txt", tmp_path / "blank.png", tmp_path / "missing.png"]
    saved = tmp_path / "inputs"
    code, results = predict_json(
        [*map(str, files), "--model", str(small_cnn.model_file), "--save-preprocessed", str(saved)], capsys
    )
    assert code == 1
    assert [r["image"] for r in results] == list(map(str, files))
    assert results[0]["digit"] == 7 and "error" not in results[0]
    assert "not an image" in results[1]["error"]
    assert "blank image" in results[2]["error"]
    assert "no such file" in results[3]["error"]
    assert [p.name for p in saved.iterdir()] == ["seven.png"]
    assert Image.open(saved / "seven.png").size == (28, 28)


def test_the_same_model_through_mlflow_uris(
    small_cnn: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry's `models:/NAME@champion`, the logged `models:/<model_id>`, and `runs:/`."""
    truth = {f"d{digit}.png": digit for digit in range(10)}
    for name, digit in truth.items():
        draw_strokes(digit, size=(300, 300), width=20).save(tmp_path / name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", small_cnn.tracking_uri)

    _, local = predict_json([str(tmp_path), "--model", str(small_cnn.model_file)], capsys)
    for uri in (small_cnn.champion_uri, f"models:/{small_cnn.logged_model_id()}", f"runs:/{small_cnn.run_id}/model"):
        code, remote = predict_json([str(tmp_path), "--model", uri], capsys)
        assert code == 0
        assert [r["digit"] for r in remote] == [r["digit"] for r in local], uri
        assert [r["probability"] for r in remote] == pytest.approx([r["probability"] for r in local], abs=1e-5)


def test_unknown_models_fail_with_the_fix(small_cnn: TrainedModel, tmp_path: Path, capsys, monkeypatch) -> None:
    draw_strokes(1).save(tmp_path / "one.png")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", small_cnn.tracking_uri)
    monkeypatch.chdir(tmp_path)  # outside any repository
    for model, message in [
        ([], "no --model given, and no repository here to take models/model.onnx from"),
        (["--model", "nowhere.keras"], "no model at nowhere.keras: train one"),
        (["--model", "nowhere.onnx"], "no model at nowhere.onnx: train one"),
        (["--model", "models:/no-such-model@champion"], "cannot load MLflow model models:/no-such-model@champion"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(["predict", "one.png", *model])
        assert exit_.value.code == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_console_script_prints_one_line_per_image(small_cnn: TrainedModel, tmp_path: Path, mnist_mirror) -> None:
    draw_strokes(0, size=(300, 200), width=16).save(tmp_path / "zero.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    done = run(
        # The model folder: its ONNX export, as by default (no TensorFlow start-up in the process).
        ["mnist-pipeline", "predict", "zero.png", "broken.jpg", "--model", str(small_cnn.model_file.parent)],
        tmp_path,
        pipeline_env(mnist_mirror),
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.startswith("zero.png: 0 (p=") and len(done.stdout.splitlines()) == 1
    assert done.stderr.strip().splitlines()[-1].startswith("broken.jpg: error: ")


# The ONNX export (the train stage's models/model.onnx), which `predict` runs by default.


def test_onnx_export_gives_keras_probabilities_on_the_whole_test_set(small_cnn: TrainedModel) -> None:
    """The same digit for each of the 10,000 test images, probabilities within 1e-5: the Keras
    model's are the ones the train stage saved beside both files."""
    from mnist_pipeline.data.preprocess import load_split
    from mnist_pipeline.plumbing.workspace import ONNX_FILE, PROBABILITIES_FILE
    from mnist_pipeline.predict.runtimes import OnnxClassifier

    models = small_cnn.model_file.parent
    keras_probabilities = np.load(models / PROBABILITIES_FILE)
    onnx_probabilities = OnnxClassifier(models / ONNX_FILE).probabilities(load_split(small_cnn.data_dir, "test").x)
    assert onnx_probabilities.shape == keras_probabilities.shape == (10_000, 10)
    np.testing.assert_array_equal(onnx_probabilities.argmax(axis=1), keras_probabilities.argmax(axis=1))
    np.testing.assert_allclose(onnx_probabilities, keras_probabilities, rtol=0, atol=1e-5)


def test_onnx_and_keras_read_the_drawn_digits_alike(
    small_cnn: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drawn_digits(tmp_path / "digits")
    models = str(small_cnn.model_file.parent)
    code, with_onnx = predict_json([str(tmp_path / "digits"), "--model", models], capsys)
    assert code == 0
    _, with_keras = predict_json([str(tmp_path / "digits"), "--model", models, "--keras"], capsys)
    _, with_keras_file = predict_json([str(tmp_path / "digits"), "--model", str(small_cnn.model_file)], capsys)
    assert [r["digit"] for r in with_onnx] == [r["digit"] for r in with_keras] == [r["digit"] for r in with_keras_file]
    assert [r["probability"] for r in with_onnx] == pytest.approx([r["probability"] for r in with_keras], abs=1e-5)


def repo_with_models(small_cnn: TrainedModel, root: Path, *files: str) -> Path:
    """A folder that `predict` takes for the repository (a dvc.yaml), its models/ holding `files`
    of the session's small CNN."""
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    (root / "models").mkdir()
    for name in files:
        shutil.copy(small_cnn.model_file.parent / name, root / "models" / name)
    return root


def test_default_predict_loads_neither_tensorflow_nor_mlflow_nor_hydra(small_cnn: TrainedModel, tmp_path: Path) -> None:
    """`mnist-pipeline predict digit.png` in a fresh process, as a user runs it: the train stage's
    ONNX model, and none of the heavy packages imported."""
    repo = repo_with_models(small_cnn, tmp_path, "model.onnx")
    draw_strokes(3, size=(300, 300), width=20).save(repo / "three.png")
    code = (
        "import sys\nfrom mnist_pipeline import cli\ncli.main(['predict', 'three.png'])\n"
        "heavy = ('tensorflow', 'keras', 'mlflow', 'hydra', 'omegaconf')\n"
        "print('loaded:', [name for name in heavy if name in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    prediction, loaded = done.stdout.splitlines()
    assert prediction.startswith("three.png: 3 (p=")
    assert loaded == "loaded: []"


def test_a_models_folder_without_onnx_fails_with_the_fix(
    small_cnn: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old models/ folder (model.keras only): one line naming both fixes; `--keras` still works."""
    repo = repo_with_models(small_cnn, tmp_path, "model.keras")
    draw_strokes(5, size=(300, 300), width=20).save(repo / "five.png")
    monkeypatch.chdir(repo)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["predict", "five.png"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: no model.onnx in {repo / 'models'} ")
    assert "run `dvc repro train` to export it, or pass --keras" in err
    code, results = predict_json(["five.png", "--keras"], capsys)
    assert code == 0 and results[0]["digit"] == 5


def test_a_file_that_is_not_a_keras_model_is_one_line_naming_it(
    small_cnn: TrainedModel, tmp_path: Path, mnist_mirror: Path
) -> None:
    """A text file, or a .keras file cut short (an interrupted copy), fails in one line before
    TensorFlow loads (so none of its log lines either)."""
    draw_strokes(3).save(tmp_path / "three.png")
    (tmp_path / "notes.txt").write_text("not a model\n")
    whole = small_cnn.model_file.read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])
    fix = (
        "give a .keras file saved by Keras (e.g. the train stage's models/model.keras), "
        "its ONNX export (models/model.onnx) or a model URI"
    )
    env = pipeline_env(mnist_mirror)
    for name in ("notes.txt", "cut.keras"):
        done = run(["mnist-pipeline", "predict", "three.png", "--model", name], tmp_path, env, check=False)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr == (
            f"error: {name} is not a Keras model (not a .keras zip archive: cut short, or another file); {fix}\n"
        )
