"""Talking to the Hub: which endpoint, whether we may go online, and errors users can act on.

huggingface_hub reads HF_ENDPOINT, HF_HUB_CACHE and HF_HUB_OFFLINE once, at import; the
workbench resolves the endpoint and the cache at call time instead (so a test or a user who
changes them later is obeyed) and passes them explicitly to every call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from workbench.core.errors import (
    CorruptCheckpointError,
    HubAccessError,
    HubConnectionError,
    HubError,
    HubNotFoundError,
)

DEFAULT_ENDPOINT = "https://huggingface.co"

# The CLI sets HF_HUB_OFFLINE=1 for every command (inspection must never touch the network) and
# sets this marker beside it, so an explicit download can tell its own default from a user's
# choice: a user's HF_HUB_OFFLINE=1 is obeyed with a clear error; the workbench's is lifted.
OFFLINE_DEFAULT_MARKER = "WORKBENCH_OFFLINE_BY_DEFAULT"

# Timeouts in seconds: every request is bounded (huggingface_hub's own default is 10 s).
REQUEST_TIMEOUT = 20.0

_online_lock = threading.Lock()
_online_users = 0
_saved_offline: bool | None = None


def hub_endpoint() -> str:
    """The Hub's base URL: HF_ENDPOINT at call time, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def logged_in() -> bool:
    """Whether huggingface_hub finds a token (HF_TOKEN, or `hf auth login`'s token file)."""
    from huggingface_hub import get_token

    return get_token() is not None


def user_chose_offline() -> bool:
    """True when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set by the user, not by the workbench."""
    from huggingface_hub import constants

    return constants.is_offline_mode() and os.environ.get(OFFLINE_DEFAULT_MARKER) != "1"


@contextmanager
def online() -> Iterator[None]:
    """Allow huggingface_hub's requests for the duration of an explicit Hub call.

    huggingface_hub checks a module-level flag (`constants.HF_HUB_OFFLINE`) in every request;
    it is lifted only while a Hub call is running (counted, so overlapping calls are safe), and
    only if it is the workbench's default rather than the user's choice.
    """
    global _online_users, _saved_offline
    from huggingface_hub import constants

    if user_chose_offline():
        raise HubConnectionError(
            "Offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set in your "
            "environment), so nothing can be downloaded. Unset it, then try again.")
    with _online_lock:
        if _online_users == 0:
            _saved_offline = constants.HF_HUB_OFFLINE
            constants.HF_HUB_OFFLINE = False
        _online_users += 1
    try:
        yield
    finally:
        with _online_lock:
            _online_users -= 1
            if _online_users == 0:
                constants.HF_HUB_OFFLINE = bool(_saved_offline)


@contextmanager
def hub_errors(repo_id: str, revision: str | None = None) -> Iterator[None]:
    """Translate huggingface_hub / HTTP failures into WorkbenchErrors that say what to do."""
    import httpx2
    from huggingface_hub import errors as hf

    rev = revision or "main"
    if logged_in():
        login = ("Your token was sent but does not give access: use a token of an account that "
                 "can read it")
    else:
        login = "Log in with `hf auth login` (or set HF_TOKEN) using a token that can read it"
    try:
        yield
    except hf.GatedRepoError:
        if logged_in():
            advice = ("Your token was sent but has not been granted access yet: request it on "
                      "that page, or log in with the account that has it.")
        else:
            advice = ("Accept the conditions there, then log in with `hf auth login` (or set "
                      "HF_TOKEN) so your token is sent.")
        raise HubAccessError(
            f"{repo_id} is gated: its authors must grant access first, at "
            f"{hub_endpoint()}/{repo_id}. {advice}") from None
    except hf.RevisionNotFoundError:
        raise HubNotFoundError(
            f"{repo_id} has no revision '{rev}'. Check the branch, tag or commit name "
            f"(the default branch is usually 'main').") from None
    except hf.RemoteEntryNotFoundError as e:
        raise HubNotFoundError(
            f"A file was not found in {repo_id} at revision '{rev}' ({_url_of(e)}). The "
            f"repository may have changed: preview it again to see its current files.") from None
    except hf.RepositoryNotFoundError:
        raise HubNotFoundError(
            f"{repo_id} was not found on {hub_endpoint()}. Check the spelling (owner/name); "
            f"if it is a private repository: {login}.") from None
    except hf.DisabledRepoError:
        raise HubAccessError(f"{repo_id} has been disabled by the Hub; it cannot be downloaded."
                             ) from None
    except hf.OfflineModeIsEnabled:
        raise HubConnectionError(
            "Offline mode is on (HF_HUB_OFFLINE is set), so the Hub cannot be reached. Unset it, "
            "then try again.") from None
    except hf.LocalEntryNotFoundError as e:  # hf_hub_download: no Hub, and not in the cache
        raise HubConnectionError(
            f"Cannot reach {hub_endpoint()} and {repo_id} is not in the local cache: check "
            f"your network connection and proxy settings ({type(e.__cause__).__name__}).") from None
    except hf.SafetensorsParsingError as e:
        raise CorruptCheckpointError(
            f"{repo_id}: a remote safetensors header is corrupt ({e}). The file on the Hub "
            f"cannot be read as it is; report it to the repository's authors.") from None
    except hf.HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status in (401, 403):
            raise HubAccessError(
                f"The Hub refused access to {repo_id} (HTTP {status}). {login}.") from None
        raise HubConnectionError(
            f"The Hub answered HTTP {status} for {repo_id}; it may be down or rate-limiting. "
            f"Try again later.") from None
    except (httpx2.TransportError, ConnectionError, TimeoutError) as e:
        raise HubConnectionError(
            f"Cannot reach {hub_endpoint()} ({type(e).__name__}: {e}). Check your network "
            f"connection, proxy, or HF_ENDPOINT; partial downloads resume next time."
        ) from None
    except hf.HFValidationError as e:
        raise HubNotFoundError(
            f"'{repo_id}' (revision '{rev}') is not a valid repository name: {e} Give it as "
            f"owner/name, e.g. sentence-transformers/all-MiniLM-L6-v2.") from None
    except OSError as e:  # a full disk, a file the server cut short, a non-Hub endpoint
        raise HubError(f"Downloading {repo_id} failed: {e} Finished files are kept; try again."
                       ) from None


def _url_of(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(response.url) if response is not None else str(error).splitlines()[-1]
