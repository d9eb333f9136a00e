"""Strict configs: unknown keys and wrong types are errors that say what is valid."""

from pathlib import Path

import pytest

from anime_gan.config import (
    ExperimentConfig,
    apply_overrides,
    deep_merge,
    from_dict,
    load_experiment,
    parse_override,
    save_experiment,
)
from anime_gan.errors import ConfigError

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))


def test_unknown_top_level_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        from_dict(ExperimentConfig, {"trian": {}})
    message = str(err.value)
    assert "trian" in message and "'train'" in message and "'generator'" in message


def test_unknown_nested_key_names_its_section():
    with pytest.raises(ConfigError, match=r"config\.train: unknown key\(s\) \['epochz'\]; valid keys: .*'epochs'"):
        from_dict(ExperimentConfig, {"train": {"epochz": 3}})


def test_wrong_type_is_rejected_and_ints_become_floats():
    with pytest.raises(ConfigError, match="train.batch_size"):
        from_dict(ExperimentConfig, {"train": {"batch_size": "big"}})
    with pytest.raises(ConfigError, match="train.bf16"):
        from_dict(ExperimentConfig, {"train": {"bf16": 1}})
    config = from_dict(ExperimentConfig, {"train": {"epochs": 3}, "data": {"resolution": [128, 160]}})
    assert config.train.epochs == 3.0 and isinstance(config.train.epochs, float)
    assert config.data.resolution == [128, 160]


def test_components_need_a_name():
    with pytest.raises(ConfigError, match="generator: needs a 'name'"):
        from_dict(ExperimentConfig, {"generator": {"width": 8}})


def test_overrides_parse_yaml_values_and_merge_dotted_keys():
    assert parse_override("train.epochs=3") == ("train.epochs", 3)
    assert parse_override("g_optimizer.betas=[0.0, 0.9]") == ("g_optimizer.betas", [0.0, 0.9])
    assert parse_override("data.dataset=folder:/x=y") == ("data.dataset", "folder:/x=y")
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("train.epochs")
    merged = apply_overrides({"train": {"epochs": 1, "batch_size": 8}}, {"train.epochs": 5, "log.every": 2})
    assert merged == {"train": {"epochs": 5, "batch_size": 8}, "log": {"every": 2}}
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


def test_round_trip_through_yaml(tmp_path):
    config = load_experiment(None, ["train.epochs=2.5", "generator.width=16"])
    save_experiment(config, tmp_path / "c.yaml")
    assert load_experiment(tmp_path / "c.yaml") == config


def test_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_experiment(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_experiment(bad)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_builds(path):
    """Each shipped file loads strictly by its kind (GAN or translation) and its networks and loss build."""
    from anime_gan.config import load_config, resolution_of
    from anime_gan.losses import build_loss
    from anime_gan.models import build_discriminator, build_generator, build_translator

    config = load_config(path)
    assert config.name == path.stem
    assert config.description, f"{path.name} must say which paper and row it reproduces"
    if getattr(config, "kind", "gan") == "translation":
        build_translator(config.generator, resolution=resolution_of(config))
        build_discriminator(config.discriminator, resolution=resolution_of(config))
        build_loss(config.loss)
        return
    build_generator(config.generator, resolution=resolution_of(config))
    build_discriminator(config.discriminator, resolution=resolution_of(config))
    build_loss(config.loss)


PARAMS_YAML = """
profile: cpu
data: emoji-faces
profiles:
  cpu: {overrides: {train: {epoch_scale: 0.03}, generator: {width: 32}}}
  paper: {}
experiments:
  a: {config: configs/s003_dcgan.yaml, overrides: {train: {batch_size: 64}},
      profile_overrides: {cpu: {train: {epoch_scale: 0.1}}}}
  b: {config: configs/s003_dcgan.yaml}
"""


def test_params_merge_config_profile_entry_and_per_profile_budget(tmp_path):
    """configs/<file> <- profile overrides <- entry overrides <- the entry's overrides for the active profile."""
    from anime_gan.params import experiment_config, load_params

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "params.yaml").write_text(PARAMS_YAML)
    params = load_params(tmp_path / "params.yaml")
    a, b = experiment_config(params, "a", root), experiment_config(params, "b", root)
    assert (a.train.epoch_scale, a.train.batch_size, a.generator["width"]) == (0.1, 64, 32)
    assert (b.train.epoch_scale, b.train.batch_size, b.generator["width"]) == (0.03, 128, 32)
    params.profile = "paper"
    a = experiment_config(params, "a", root)
    assert (a.train.epoch_scale, a.train.batch_size, a.generator["width"]) == (1.0, 64, 64)


def test_params_reject_a_budget_for_an_undefined_profile(tmp_path):
    from anime_gan.params import load_params

    (tmp_path / "params.yaml").write_text(PARAMS_YAML.replace("profile_overrides: {cpu:", "profile_overrides: {gpu:"))
    with pytest.raises(ConfigError, match=r"undefined profiles \['gpu'\]"):
        load_params(tmp_path / "params.yaml")


def test_shipped_params_resolve_every_experiment_under_every_profile():
    from anime_gan.params import experiment_config, load_params

    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params.yaml")
    for profile in params.profiles:
        params.profile = profile
        for name in params.experiments:
            assert experiment_config(params, name, root).name == name


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=0", r"train.batch_size must be in \[1, inf\], got 0"),
    ("train.ema_decay=1", r"train.ema_decay must be in \[0.0, 1.0\)"),
    ("train.epochs=0", r"train.epochs must be in \(0.0, inf\]"),
    ("data.holdout_fraction=1.5", r"data.holdout_fraction must be in \[0.0, 1.0\)"),
    ("log.every=0", r"log.every must be in \[1, inf\]"),
    ("train.gp_weight=-1", r"train.gp_weight must be in \[0.0, inf\]"),
])
def test_out_of_range_numbers_are_named_with_their_valid_range(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(None, [override])


def test_keys_added_later_leave_earlier_runs_their_fingerprint_and_resumption():
    import hashlib
    import json

    from anime_gan.config import config_changes, config_fingerprint, load_translation, to_dict
    from anime_gan.config.loading import flatten

    for config, key, other in ((load_experiment(None), "growth.reset_optimizer", True),
                               (load_translation(None), "train.n_critic", 5)):
        section, name = key.split(".")
        stored = to_dict(config)
        del stored[section][name]  # what a run folder written before the key existed holds
        # The fingerprint at the key's added value is the hash of the config without it, as before the key existed.
        kept = {k: v for k, v in flatten(stored).items() if not k.startswith(("log.", "train.device", "data.root"))}
        assert config_fingerprint(config) == hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]
        assert config_changes(stored, to_dict(config), added=type(config).ADDED_KEYS) == []  # it resumes
        assert config_changes(stored, to_dict(config)) == [key]  # read strictly, it would start over
        before = config_fingerprint(config)
        setattr(getattr(config, section), name, other)
        assert config_fingerprint(config) != before  # set to anything else, the key counts
        assert config_changes(stored, to_dict(config), added=type(config).ADDED_KEYS) == [key]
