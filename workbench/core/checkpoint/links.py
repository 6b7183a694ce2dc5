"""Which symbolic links inside a checkpoint are followed: the policy, in one place.

A file a checkpoint names (a shard of an index, its weights file) may be a symbolic link: the
Hugging Face cache is made of them (`snapshots/<rev>/model.safetensors -> ../../blobs/<sha>`). A
link is followed when its target lies inside the checkpoint folder, or, for a snapshot in the
Hub cache, inside that repository's own cache folder (`models--org--name/`, which holds blobs/).
Any other target is refused: a folder or index someone sent you must not make the app read files
elsewhere on the machine.
"""

from __future__ import annotations

from pathlib import Path

from workbench.core.errors import InvalidIndexError


def allowed_root(folder: Path) -> Path:
    """The folder every followed link must stay inside (see the module docstring)."""
    parts = Path(folder).absolute().parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == "snapshots" and parts[i - 1].startswith("models--"):
            return Path(*parts[:i]).resolve()
    return Path(folder).resolve()


def check_inside(folder: Path, path: Path, what: str) -> None:
    """Raise InvalidIndexError when `path` (named by the checkpoint in `folder`) leads outside."""
    root = allowed_root(folder)
    try:
        target = Path(path).resolve()
    except (OSError, ValueError) as e:  # a lone surrogate, a NUL, a loop of links
        raise InvalidIndexError(f"{what} {Path(path).name!a} cannot be opened ({e}); the "
                                f"checkpoint names a file that cannot exist.") from None
    if not target.is_relative_to(root):
        raise InvalidIndexError(
            f"{what} {Path(path).name} is a link to {target}, outside the checkpoint folder "
            f"{root}. Refusing to read it: links are followed only inside the checkpoint (or, in "
            f"the Hugging Face cache, inside the repository's own folder). Copy the file into "
            f"the folder instead.")
