"""The WorkbenchError family: every failure a user can act on, with a message that says how."""

from __future__ import annotations

import errno


class WorkbenchError(Exception):
    """Base class: `str(error)` is a complete, user-facing message (what is wrong, what to do)."""


class PathNotFoundError(WorkbenchError):
    """The path the user gave does not exist."""


class NotACheckpointError(WorkbenchError):
    """The path exists but holds nothing we recognise as a checkpoint."""


class CorruptCheckpointError(WorkbenchError):
    """A weights file is truncated, malformed or internally inconsistent."""


class InvalidIndexError(WorkbenchError):
    """A sharded-checkpoint index is malformed, unsafe or disagrees with its shards."""


class InvalidConfigError(WorkbenchError):
    """config.json (or an edited config) cannot be read or does not validate."""


class UnsafePickleError(WorkbenchError):
    """A pickled weights file needs globals outside torch's weights_only allow-list."""


class ModelBuildError(WorkbenchError):
    """transformers could not build a model from the config."""


class ModelRunError(WorkbenchError):
    """A model's forward pass failed inside its own code (a config that does not fit it)."""


class MissingDependencyError(WorkbenchError):
    """An optional package (the demo model, peft, ...) is not installed."""


class CancelledError(WorkbenchError):
    """Long work was cancelled by the user."""


class InvalidTrainSpecError(WorkbenchError):
    """A training spec field has a value that cannot work; the message names the field."""


class InsufficientMemoryError(WorkbenchError):
    """A real allocation (weights, a CPU trace, attention maps) would not fit in free memory."""


class TrainingDataError(WorkbenchError):
    """A training/eval data file is missing, empty, or lacks the columns/labels the task needs."""


class RunFolderInUseError(WorkbenchError):
    """A new run was pointed at a folder that already holds a run (resume or start over)."""


class DiskFullError(WorkbenchError):
    """A write failed for lack of space; the message names the space needed and what is free."""


class HubError(WorkbenchError):
    """A Hugging Face Hub request failed; subclasses say whether access, existence or network."""


class HubAccessError(HubError):
    """The repository is gated or private and the token (or its absence) does not give access."""


class HubNotFoundError(HubError):
    """The repository, revision or file does not exist on the Hub (or is hidden from this token)."""


class HubConnectionError(HubError):
    """The Hub cannot be reached: no network, offline mode, or a server error."""


class NotWritableError(WorkbenchError):
    """A file or folder cannot be created where the user asked (no such folder, no permission,
    a read-only file system)."""


# What a path the user gave can run into; a full disk is not among them (its own messages
# name the space needed, see training/faults.py).
_PATH_ERRNOS = {errno.ENOENT: "it does not exist", errno.EACCES: "permission denied",
                errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only",
                errno.ENOTDIR: "a part of the path is a file, not a folder",
                errno.EISDIR: "it is a folder, not a file",
                errno.EEXIST: "it already exists (a file where a folder should be?)",
                errno.ENAMETOOLONG: "the name is too long"}


def path_error_message(error: BaseException) -> str | None:
    """A user message for an OSError about a path ("/x/y.png: permission denied. ..."), or
    None for any other error (which stays an unexpected one, with its traceback logged)."""
    reason = path_problem(error)
    if reason is None:
        return None
    where = error.filename if error.filename is not None else "a file"
    return f"{where}: {reason}. Check the path, or choose a folder you may read and write."


def path_problem(error: BaseException) -> str | None:
    """What is wrong with a path, in words ("permission denied"), for an OSError about one."""
    return _PATH_ERRNOS.get(error.errno) if isinstance(error, OSError) else None
