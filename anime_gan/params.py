"""The pipeline's parameters (``params.yaml``).

``params.yaml`` names the active budget profile and datasets, defines the
profiles (smoke / cpu / paper) and the experiment matrix: one entry per row of
the papers' tables, each pointing at a config file in ``configs/`` that holds
the paper's hyperparameters. An experiment's final config is

    configs/<file>.yaml  <-  profile overrides  <-  the entry's own overrides  <-  its overrides for this profile

with the dataset filled in from ``data`` or ``second_data``. DVC tracks the
keys each stage reads, so changing one experiment's entry or config file
retrains only that experiment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anime_gan.config import ExperimentConfig, deep_merge, from_dict, load_yaml
from anime_gan.errors import ConfigError

PARAMS_FILE = "params.yaml"


@dataclass
class EvaluateSettings:
    n: int = 2000  # generated and real images compared per metric
    metrics: list[str] = field(default_factory=lambda: ["fd_effnet", "precision_effnet", "recall_effnet", "kid_effnet",
                                                         "dr"])
    batch_size: int = 100


@dataclass
class StyleSettings:
    """Seed 004's comparison of style-transfer methods (``pipeline style``)."""

    source: str = "utkface-photos"  # content photographs (their hold-out split)
    pairs: int = 32  # content/style pairs stylised by every method
    size: int = 64  # side of content, style and result images
    nst_steps: int = 100  # Adam steps of neural style transfer per image
    reference_n: int = 2000  # held-out anime faces the stylised sets are compared with (fd_effnet)
    methods: list[str] = field(default_factory=lambda: ["histogram", "cartoon", "patch", "nst"])


@dataclass
class Profile:
    description: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)  # merged into every GAN experiment config
    translation_overrides: dict[str, Any] = field(default_factory=dict)  # merged into every translation config
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    style: StyleSettings = field(default_factory=StyleSettings)


@dataclass
class ExperimentEntry:
    config: str = ""  # YAML file with the paper's settings, relative to the project root
    dataset: str = "main"  # main | second: trains on params `data` or `second_data`
    paper: str = ""  # which paper (seed id), e.g. "003"
    row: str = ""  # the row label in that paper's table
    overrides: dict[str, Any] = field(default_factory=dict)  # this experiment's own changes, in every profile
    # Changes under one profile only, e.g. {cpu: {train: {epoch_scale: 0.1}}}: a larger budget for one row.
    profile_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Params:
    profile: str = "cpu"  # smoke | cpu | paper
    data: str = "emoji-faces"  # main dataset (anime-faces for the published reports)
    second_data: str = "emoji-faces"  # seed 000's second face dataset (celeba when you have it)
    data_root: str = "data"
    runs_root: str = "data/runs"
    profiles: dict[str, Profile] = field(default_factory=dict)
    experiments: dict[str, ExperimentEntry] = field(default_factory=dict)

    @property
    def active_profile(self) -> Profile:
        if self.profile not in self.profiles:
            raise ConfigError(f"params: profile {self.profile!r} is not defined; defined profiles: {sorted(self.profiles)}")
        return self.profiles[self.profile]

    def entry(self, name: str) -> ExperimentEntry:
        if name not in self.experiments:
            raise ConfigError(f"params: no experiment {name!r}; experiments: {sorted(self.experiments)}")
        return self.experiments[name]

    def dataset_for(self, name: str) -> str:
        slot = self.entry(name).dataset
        if slot not in ("main", "second"):
            raise ConfigError(f"params.experiments.{name}.dataset must be 'main' or 'second', not {slot!r}")
        return self.data if slot == "main" else self.second_data

    def run_dir(self, name: str, root: str | Path = ".") -> Path:
        return Path(root) / self.runs_root / name


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    params = from_dict(Params, load_yaml(path), where=str(path))
    for name, entry in params.experiments.items():
        if not entry.config:
            raise ConfigError(f"{path}: experiments.{name} needs a 'config' file")
        if unknown := sorted(set(entry.profile_overrides) - set(params.profiles)):
            raise ConfigError(f"{path}: experiments.{name}.profile_overrides names undefined profiles {unknown}; "
                              f"defined: {sorted(params.profiles)}")
    return params


def experiment_config(params: Params, name: str, root: str | Path = ".") -> Any:
    """The resolved config of experiment ``name`` under the active profile: an ExperimentConfig, or a
    TranslationConfig for a ``kind: translation`` file (whose target domain is the entry's dataset)."""
    entry = params.entry(name)
    raw = load_yaml(Path(root) / entry.config)
    translation = raw.get("kind") == "translation"
    profile = params.active_profile
    raw = deep_merge(raw, profile.translation_overrides if translation else profile.overrides)
    raw = deep_merge(raw, entry.overrides)
    raw = deep_merge(raw, entry.profile_overrides.get(params.profile, {}))
    raw["name"] = name
    where = f"experiment {name} ({entry.config} + profile {params.profile})"
    data_root = str(Path(root) / params.data_root)
    if translation:
        from anime_gan.config.translation import translation_from_dict

        raw = deep_merge(raw, {"target": {"dataset": params.dataset_for(name)}, "data": {"root": data_root}})
        return translation_from_dict(raw, where=where)
    raw = deep_merge(raw, {"data": {"dataset": params.dataset_for(name), "root": data_root}})
    return from_dict(ExperimentConfig, raw, where=where)


def set_top_level(path: str | Path, values: dict[str, str]) -> None:
    """Change top-level scalar keys of params.yaml in place, keeping its comments and layout."""
    path = Path(path)
    text = path.read_text()
    for key, value in values.items():
        pattern = re.compile(rf"^{re.escape(key)}:[^\n#]*", re.MULTILINE)
        if not pattern.search(text):
            raise ConfigError(f"{path} has no top-level key {key!r}")
        text = pattern.sub(f"{key}: {value} ", text, count=1)  # keep a space before any comment
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    try:  # validate before replacing the file
        from_dict(Params, load_yaml(tmp), where=str(path)).active_profile
    except ConfigError:
        tmp.unlink()
        raise
    tmp.replace(path)
