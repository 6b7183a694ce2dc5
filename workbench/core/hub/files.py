"""What a Hub repository holds at a revision, and which of its files a download takes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from workbench.core.errors import WorkbenchError
from workbench.core.hub.connection import REQUEST_TIMEOUT, hub_endpoint, hub_errors, online

# What "safetensors only" keeps besides the weights: config, index, tokenizer and chat template
# files, so the snapshot opens, builds and tokenizes; other weight formats (.bin, .pt, .h5,
# .msgpack, .onnx, .gguf) and custom code (.py, never run without consent) are left out.
SAFETENSORS_PATTERNS = ("*.safetensors", "*.json", "*.txt", "*.model", "*.tiktoken", "*.jinja")

Which = Literal["all", "safetensors", "gguf", "include"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a repository at a commit."""

    path: str
    size: int


@dataclass(frozen=True)
class RemoteRepo:
    """A repository's files at one resolved commit."""

    repo_id: str
    revision: str  # as the user asked: branch, tag or commit
    commit: str  # the commit hash it resolved to
    files: tuple[RemoteFile, ...]
    gated: bool
    private: bool

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def gguf_files(self) -> list[str]:
        """The .gguf files, for "one GGUF" (a GGUF repo usually holds one file per quantization)."""
        return [f.path for f in self.files if f.path.endswith(".gguf")]

    def to_json(self) -> dict:
        d = asdict(self)
        d["files"] = [asdict(f) for f in self.files]
        d["total_size"] = self.total_size
        return d


def list_remote_files(repo_id: str, revision: str | None = None,
                      token: str | bool | None = None) -> RemoteRepo:
    """Resolve `revision` and list the repository's files with their sizes (one API call)."""
    from huggingface_hub import HfApi

    revision = revision or "main"
    # token=None: huggingface_hub's own lookup (HF_TOKEN, then the `hf auth login` token file).
    api = HfApi(endpoint=hub_endpoint(), token=token)
    with online(), hub_errors(repo_id, revision):
        # model_info with files_metadata (blobs=true) gives every size in one bounded request;
        # list_repo_tree would too, but takes no timeout (it could wait forever).
        info = api.model_info(repo_id, revision=revision, files_metadata=True,
                              timeout=REQUEST_TIMEOUT)
    if not info.sha:
        raise WorkbenchError(f"The Hub did not say which commit '{revision}' of {repo_id} is; "
                             f"try again, or give a commit hash as the revision.")
    files = tuple(RemoteFile(s.rfilename, int(s.size or (s.lfs.size if s.lfs else 0) or 0))
                  for s in info.siblings or ())
    return RemoteRepo(repo_id, revision, info.sha, files, bool(info.gated), bool(info.private))


def selection_patterns(which: Which, gguf_file: str | None = None,
                       include: list[str] | None = None) -> list[str] | None:
    """The allow-patterns (fnmatch, as huggingface_hub uses them) of a choice; None = all."""
    if which == "all":
        return None
    if which == "safetensors":
        return list(SAFETENSORS_PATTERNS)
    if which == "gguf":
        if not gguf_file:
            raise WorkbenchError("Choose which .gguf file to download (a GGUF repository "
                                 "usually holds one file per quantization).")
        return [gguf_file]
    if not include:
        raise WorkbenchError("Give at least one include pattern, e.g. '*.safetensors' or "
                             "'config.json'.")
    return list(include)


def select_files(repo: RemoteRepo, patterns: list[str] | None) -> list[RemoteFile]:
    """The files of `repo` that match `patterns`; a pattern that matches nothing is an error."""
    from huggingface_hub.utils import filter_repo_objects

    if patterns is None:
        chosen = list(repo.files)
    else:
        chosen = list(filter_repo_objects(repo.files, allow_patterns=patterns,
                                          key=lambda f: f.path))
    if not chosen:
        what = "no files" if not repo.files else f"no file matching {', '.join(patterns or [])}"
        raise WorkbenchError(
            f"{repo.repo_id} at '{repo.revision}' has {what}. Preview it to see its files "
            f"({len(repo.files)} in all), then choose again.")
    return chosen
