"""The one exception hierarchy of specview.

Every message echoes the offending value and says what to do about it.
"""


class SpecviewError(Exception):
    """Base class of every error specview raises on purpose."""


class ParameterError(SpecviewError, ValueError):
    """A parameter has a value that cannot be used."""


class AudioError(SpecviewError):
    """An audio file cannot be read or holds unusable samples."""


class AnnotationError(SpecviewError):
    """An annotation file cannot be parsed or written."""


class DatasetError(SpecviewError):
    """A folder does not hold the expected dataset layout."""


class ModelFileError(SpecviewError):
    """A model file is damaged, foreign or does not match the encoder."""


class WeightsError(SpecviewError):
    """Pretrained encoder weights are missing or do not fit the network."""


class Cancelled(SpecviewError):
    """Raised by a progress callback to stop long work."""


class SpecviewWarning(UserWarning):
    """Input was usable but something was done to it (resampled, clipped, a row set aside...).

    The CLI prints each as one ``specview: warning: ...`` line; the GUI shows it in the status
    bar. The message says what was done and why.
    """
