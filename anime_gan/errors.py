"""Errors for bad input. The CLI prints their message without a traceback."""


class AnimeGanError(Exception):
    """Base class: something the user can fix, described in the message."""


class ConfigError(AnimeGanError, ValueError):
    """A config file, key or override is wrong."""


class DataError(AnimeGanError):
    """A dataset is missing, empty, corrupt beyond the allowed share, or of the wrong shape."""


class AssetError(AnimeGanError):
    """A downloadable file (weights, cascade) is absent offline or fails its checksum."""


class TrainingError(AnimeGanError):
    """Training cannot go on (for instance a NaN or Inf loss)."""


class MetricError(AnimeGanError):
    """A metric cannot be computed as asked (too few samples, missing weights...)."""
