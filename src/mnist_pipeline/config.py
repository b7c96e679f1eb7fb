"""Typed configuration: the schema that every composed config and params.yaml must fit.

`conf/` (Hydra) is the single source of values. This module holds their types and the
rules on them, and turns a raw mapping (params.yaml, a Hydra composition) into a frozen
`PipelineConfig`, failing with a one-line `ConfigError` before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_pipeline.errors import ConfigError

MODEL_NAMES = ("mlp",)
OPTIMIZERS = ("adam", "sgd", "rmsprop")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu")
SUBSET_STRATEGIES = ("first", "stratified")
TRAIN_SET_SIZE = 60_000


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _require_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    _require(value in allowed, f"{key}={value!r} is not known; choose one of: {', '.join(allowed)}")


@dataclass(frozen=True)
class DataConfig:
    mirror: Optional[str] = None  # noqa: UP045 (OmegaConf needs typing.Optional)
    mirrors: list[str] = field(default_factory=list)
    download_timeout: float = 60.0
    val_fraction: float = 0.2
    subset: Optional[int] = None  # noqa: UP045
    subset_strategy: str = "first"

    def __post_init__(self) -> None:
        _require(0.0 < self.val_fraction < 1.0, f"data.val_fraction={self.val_fraction} must lie strictly between 0 and 1")
        _require(self.download_timeout > 0, f"data.download_timeout={self.download_timeout} must be > 0 seconds")
        if self.subset is not None:
            _require(
                10 <= self.subset <= TRAIN_SET_SIZE,
                f"data.subset={self.subset} must be between 10 and {TRAIN_SET_SIZE} (or null for all)",
            )
        _require_choice("data.subset_strategy", self.subset_strategy, SUBSET_STRATEGIES)


@dataclass(frozen=True)
class ModelConfig:
    name: str = "mlp"
    units: int = 128
    activation: str = "relu"

    def __post_init__(self) -> None:
        _require_choice("model.name", self.name, MODEL_NAMES)
        _require(self.units > 0, f"model.units={self.units} must be > 0")
        _require_choice("model.activation", self.activation, ACTIVATIONS)


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"
    learning_rate: float = 0.001
    epochs: int = 5
    batch_size: int = 64
    seed: int = 1

    def __post_init__(self) -> None:
        _require_choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _require(self.learning_rate > 0, f"train.learning_rate={self.learning_rate} must be > 0")
        _require(self.epochs > 0, f"train.epochs={self.epochs} must be > 0")
        _require(self.batch_size > 0, f"train.batch_size={self.batch_size} must be > 0")


@dataclass(frozen=True)
class TrackingConfig:
    uri: Optional[str] = None  # noqa: UP045
    experiment: str = "mnist"

    def __post_init__(self) -> None:
        _require(bool(self.experiment.strip()), "tracking.experiment must not be empty")


@dataclass(frozen=True)
class PipelineConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def validate(raw: DictConfig | dict[str, Any]) -> PipelineConfig:
    """Check `raw` against the schema: unknown keys, wrong types and bad values all fail here."""
    schema = _writable(OmegaConf.structured(PipelineConfig))
    try:
        merged = OmegaConf.merge(schema, raw)
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid configuration: {_first_line(exc)}") from None
    assert isinstance(config, PipelineConfig)
    return config


def _writable(node: DictConfig) -> DictConfig:
    """Frozen dataclasses make their nodes read-only; the schema must accept a merge first."""
    OmegaConf.set_readonly(node, False)
    for key in node:
        child = node[key]
        if isinstance(child, DictConfig):
            _writable(child)
    return node


def load_params(path: Path = Path("params.yaml")) -> PipelineConfig:
    """Read and validate DVC's params file, the config every stage script runs with."""
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `mnist-pipeline params` at the repository root to create it")
    try:
        raw = OmegaConf.load(path)
    except Exception as exc:  # yaml errors come in several classes
        raise ConfigError(f"{path} is not valid YAML: {_first_line(exc)}") from None
    return validate(raw)


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
