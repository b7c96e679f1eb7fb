"""Typed configuration: the schema that every composed config and params.yaml must fit.

`conf/` (Hydra) is the single source of values. This module holds their types and the
rules on them, and turns a raw mapping (params.yaml, a Hydra composition) into a typed
`PipelineConfig` (plain dataclasses: OmegaConf cannot merge into frozen ones),
failing with a one-line `ConfigError` before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_pipeline.plumbing.errors import ConfigError
from mnist_pipeline.plumbing.files import shown

OPTIMIZERS = ("adam", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
TRAINING_LOOPS = ("fused", "keras")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu")
SUBSET_STRATEGIES = ("first", "stratified")
INTERPOLATIONS = ("bilinear", "nearest")
# The variants train-time augmentation swaps in (model.augment.variants), as predict/variants.py builds them.
TRAINING_VARIANTS = ("lowres", "thick", "thin")
METRIC_MODES = ("max", "min")
TRAIN_SET_SIZE = 60_000
# 28 px halved by each conv block's pooling: 28 -> 14 -> 7 -> 3.
MAX_CONV_BLOCKS = 3


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _require_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    _require(value in allowed, f"{key}={value!r} is not known; choose one of: {', '.join(allowed)}")


@dataclass
class DataConfig:
    mirror: Optional[str]  # noqa: UP045 (OmegaConf needs typing.Optional)
    mirrors: list[str]
    download_timeout: float
    download_retries: int
    download_backoff: float
    val_fraction: float
    subset: Optional[int]  # noqa: UP045 (OmegaConf needs typing.Optional)
    subset_strategy: str

    def __post_init__(self) -> None:
        _require(
            0.0 < self.val_fraction < 1.0, f"data.val_fraction={self.val_fraction} must lie strictly between 0 and 1"
        )
        _require(self.download_timeout > 0, f"data.download_timeout={self.download_timeout} must be > 0 seconds")
        _require(self.download_retries >= 0, f"data.download_retries={self.download_retries} must be >= 0")
        _require(self.download_backoff >= 0, f"data.download_backoff={self.download_backoff} must be >= 0 seconds")
        if self.subset is not None:
            _require(
                10 <= self.subset <= TRAIN_SET_SIZE,
                f"data.subset={self.subset} must be between 10 and {TRAIN_SET_SIZE} (or null for all)",
            )
        _require_choice("data.subset_strategy", self.subset_strategy, SUBSET_STRATEGIES)


@dataclass
class ModelConfig:
    """What every model has; the keys of each `model.name` live in its own subclass below."""

    name: str


@dataclass
class MlpConfig(ModelConfig):
    """`mlp`: Flatten -> Dense(units, activation) -> Dense(10, softmax), the reference."""

    units: int
    activation: str

    def __post_init__(self) -> None:
        _require(self.units > 0, f"model.units={self.units} must be > 0")
        _require_choice("model.activation", self.activation, ACTIVATIONS)


@dataclass
class AugmentConfig:
    """Random changes to each training image (off at inference); 0 turns one off."""

    shift: float  # fraction of the image size, in each direction
    rotation: float  # degrees, either way
    zoom: float  # fraction, in or out
    interpolation: str  # how a moved pixel is resampled: bilinear, or nearest (about a third the cost)
    # Share of the training images that, each epoch, a variant of themselves replaces: the digit
    # at 8x8 pixels as `predict` prepares it, or drawn with a thicker or a thinner pen.
    variants: float
    # How those images divide among the variants, by weight (lowres 2, thick 1, thin 1: half
    # of them get the 8x8 digit).
    variant_weights: dict[str, float]

    def __post_init__(self) -> None:
        _require_choice("model.augment.interpolation", self.interpolation, INTERPOLATIONS)
        _require(0.0 <= self.variants < 1.0, f"model.augment.variants={self.variants} must be in [0, 1)")
        weights = self.variant_weights
        _require(
            set(weights) == set(TRAINING_VARIANTS) and min(weights.values()) >= 0 and sum(weights.values()) > 0,
            f"model.augment.variant_weights={dict(weights)} must give each of {', '.join(TRAINING_VARIANTS)} "
            "a weight of 0 or more, not all 0",
        )
        _require(0.0 <= self.shift < 0.5, f"model.augment.shift={self.shift} must be in [0, 0.5)")
        _require(0.0 <= self.rotation <= 45.0, f"model.augment.rotation={self.rotation} must be in [0, 45] degrees")
        _require(0.0 <= self.zoom < 0.5, f"model.augment.zoom={self.zoom} must be in [0, 0.5)")

    @property
    def shifts_whole_pixels(self) -> bool:
        """A nearest-pixel shift moves an image by whole pixels: done on the training images
        each epoch (learn/epoch_images.py), at a twentieth of the cost of a layer in the model."""
        return bool(self.shift) and self.interpolation == "nearest"


@dataclass
class CnnConfig(ModelConfig):
    """`cnn`: conv blocks (conv, batch norm or bias, relu, max-pool), then dropout, a dense layer, softmax."""

    filters: list[int]  # one conv block per entry
    kernel_sizes: list[int]  # each block's convolution window, one per entry of filters
    conv_batch_norm: bool  # batch norm after each convolution (else a bias): about half a small CNN's CPU time
    dense_units: int
    dropout: float
    augment: AugmentConfig

    def __post_init__(self) -> None:
        _require(
            1 <= len(self.filters) <= MAX_CONV_BLOCKS and all(f > 0 for f in self.filters),
            f"model.filters={self.filters} must be 1 to {MAX_CONV_BLOCKS} positive numbers (each halves the image)",
        )
        _require(
            len(self.kernel_sizes) == len(self.filters) and all(k in (3, 5, 7) for k in self.kernel_sizes),
            f"model.kernel_sizes={self.kernel_sizes} must hold 3, 5 or 7 for each of the {len(self.filters)} filters",
        )
        _require(self.dense_units > 0, f"model.dense_units={self.dense_units} must be > 0")
        _require(0.0 <= self.dropout < 1.0, f"model.dropout={self.dropout} must be in [0, 1)")


# The schema for each `model.name`; validation picks it by name.
MODEL_SCHEMAS: dict[str, type[ModelConfig]] = {"mlp": MlpConfig, "cnn": CnnConfig}
MODEL_NAMES = tuple(MODEL_SCHEMAS)


@dataclass
class TrainConfig:
    optimizer: str
    learning_rate: float
    lr_schedule: str  # constant, or cosine: from learning_rate down to near 0 at the last step
    epochs: int
    batch_size: int
    label_smoothing: float  # 0: the plain one-hot targets; e.g. 0.1 moves a tenth of each target to the other digits
    seed: int
    loop: str  # fused (one TensorFlow call per epoch, fused_loop.py) or keras (model.fit)
    steps_per_execution: int
    intra_op_threads: int
    inter_op_threads: int
    onednn: Optional[bool]  # noqa: UP045 (OmegaConf needs typing.Optional); null: TensorFlow's choice (learn/onednn.py)

    def __post_init__(self) -> None:
        _require_choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _require(self.learning_rate > 0, f"train.learning_rate={self.learning_rate} must be > 0")
        _require_choice("train.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _require(self.epochs > 0, f"train.epochs={self.epochs} must be > 0")
        _require(self.batch_size > 0, f"train.batch_size={self.batch_size} must be > 0")
        _require(0.0 <= self.label_smoothing < 1.0, f"train.label_smoothing={self.label_smoothing} must be in [0, 1)")
        _require_choice("train.loop", self.loop, TRAINING_LOOPS)
        for knob in ("steps_per_execution", "intra_op_threads", "inter_op_threads"):
            value = getattr(self, knob)
            _require(value >= 0, f"train.{knob}={value} must be >= 0 (0 = automatic)")


@dataclass
class TrackingConfig:
    uri: Optional[str]  # noqa: UP045 (OmegaConf needs typing.Optional)
    experiment: str

    def __post_init__(self) -> None:
        _require(bool(self.experiment.strip()), "tracking.experiment must not be empty")


@dataclass
class RegistryConfig:
    model_name: Optional[str]  # noqa: UP045 (OmegaConf needs typing.Optional)
    champion_metric: str
    champion_mode: str
    register_sweep_jobs: bool

    def __post_init__(self) -> None:
        if self.model_name is not None:
            _require(bool(self.model_name.strip()), "registry.model_name must not be empty (null: register nothing)")
        _require(bool(self.champion_metric.strip()), "registry.champion_metric must not be empty")
        _require_choice("registry.champion_mode", self.champion_mode, METRIC_MODES)


@dataclass
class PipelineConfig:
    """Every key is required: the values live in conf/ only, never as defaults here."""

    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    tracking: TrackingConfig
    registry: RegistryConfig


def validate(raw: DictConfig | dict[str, Any]) -> PipelineConfig:
    """Check `raw` against the schema: unknown keys, wrong types and bad values all fail here."""
    schema = OmegaConf.structured(PipelineConfig)
    try:
        schema.model = OmegaConf.structured(_model_schema(raw))
        merged = OmegaConf.merge(schema, raw)
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or ""
        raise ConfigError(f"invalid configuration{f' at {key}' if key else ''}: {_first_line(exc)}") from None
    assert isinstance(config, PipelineConfig)
    return config


def _model_schema(raw: DictConfig | dict[str, Any]) -> type[ModelConfig]:
    """The dataclass that `model` must fit, chosen by `model.name`."""
    model = raw.get("model")
    name = model.get("name") if isinstance(model, DictConfig | dict) else None
    _require(name is not None, f"model.name is missing; choose one of: {', '.join(MODEL_NAMES)}")
    _require_choice("model.name", str(name), MODEL_NAMES)
    return MODEL_SCHEMAS[str(name)]


def load_params(path: Path) -> PipelineConfig:
    """Read and validate DVC's params file, the config every stage script runs with."""
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `mnist-pipeline params` at the repository root to create it")
    try:
        raw = OmegaConf.load(path)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_syntax_error(exc, path)) from None
    return validate(raw)


def yaml_syntax_error(exc: yaml.YAMLError, path: Path | None = None) -> str:
    """`conf/model/mlp.yaml line 3, column 11: invalid YAML (expected ...)`: PyYAML's several
    lines (and a traceback through Hydra's loader) say no more than the file, the place and the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    name = Path(mark.name) if mark is not None and mark.name and not mark.name.startswith("<") else path
    where = shown(name) if name else "a YAML file"
    if mark is not None:
        where += f" line {mark.line + 1}, column {mark.column + 1}"
    problem = getattr(exc, "problem", None) or _first_line(exc)
    return f"{where}: invalid YAML ({' '.join(str(problem).split())})"


def to_container(config: PipelineConfig) -> dict[str, Any]:
    """Plain nested dict of a validated config (for logging and comparisons)."""
    container = OmegaConf.to_container(OmegaConf.structured(config))
    assert isinstance(container, dict)
    return container


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"model": {"units": 128}}` -> `{"model.units": 128}`."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(line.strip() for line in text[:1]) if text else type(exc).__name__
