"""Where an OAuth token pair lives between runs: a token store.

Bitrix24 refresh tokens are single use: a refresh answers a new pair and the old refresh token stops
working. The new pair must therefore be kept somewhere that survives the run, whatever happens to it
afterwards - dlt's state is not enough, it is only committed with a successful load. `OAuthSession`
saves every new pair to its store *before* it uses the new access token.

A store is anything with `load()` and `save(tokens)` (`TokenStore`); `tokens` is a small JSON-able
dict. The default, `FileTokenStore`, is a JSON file written atomically (a temporary file in the same
folder, then a rename) with owner-only permissions (0600, in a 0700 folder), and locked (`flock`)
while a refresh runs, so two processes on one machine never spend the same refresh token. Its default
place is `<pipelines dir>/.bitrix24_tokens/<domain>__<client_id>.json`, beside the pipelines' own
working folders (one file per application install, shared by every pipeline of that portal and app on
the machine, and kept when a pipeline's working folder is dropped). An Airflow Variable, a secrets
manager or a database row work the same way; see the README ("OAuth").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from typing import Any, Dict, Iterator, Optional, Protocol, runtime_checkable

try:  # POSIX; elsewhere only the in-process lock of OAuthSession applies
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("bitrix24")

STORE_FOLDER = ".bitrix24_tokens"


@runtime_checkable
class TokenStore(Protocol):
    """Keeps one token pair: `load()` returns the last saved dict (None: nothing saved yet),
    `save(tokens)` replaces it - durably, before it returns."""

    def load(self) -> Optional[Dict[str, Any]]: ...

    def save(self, tokens: Dict[str, Any]) -> None: ...


class FileTokenStore:
    """A JSON file, written atomically with mode 0600; `locked()` holds an exclusive `flock`."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))

    def __repr__(self) -> str:
        return f"FileTokenStore({self.path!r})"

    def load(self) -> Optional[Dict[str, Any]]:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        except ValueError:
            logger.warning("The Bitrix24 token store %s is not valid JSON; it is ignored and replaced at the"
                           " next refresh", self.path)
            return None
        return data if isinstance(data, dict) else None

    def save(self, tokens: Dict[str, Any]) -> None:
        folder = os.path.dirname(self.path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        temp = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "fchmod"):  # a umask never widens it; an existing temp file is narrowed
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(tokens, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _sync_folder(folder)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes on this machine (and across clients in one process)."""
        if fcntl is None:
            yield
            return
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _sync_folder(folder: str) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def store_lock(store: Any) -> Any:
    """The store's own lock when it has one (`locked()`), else nothing."""
    locked = getattr(store, "locked", None)
    return locked() if callable(locked) else contextlib.nullcontext()


TOKEN_DIR_ENV = "BITRIX24_TOKEN_DIR"  # a folder that outlives dlt's working folders (the Airflow DAGs set it)


def default_store_path(domain: str, client_id: str) -> str:
    """`<pipelines dir>/.bitrix24_tokens/<domain>__<client_id>.json`: the active pipeline's pipelines dir
    (the source is built after `dlt.pipeline(...)`), else dlt's default one; in `$BITRIX24_TOKEN_DIR`
    when that is set (where the pipelines dir is a temporary folder, as in an Airflow task)."""
    from dlt.common.configuration.container import Container
    from dlt.common.pipeline import PipelineContext, get_dlt_pipelines_dir

    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{domain}__{client_id}")
    if os.environ.get(TOKEN_DIR_ENV):
        return os.path.join(os.environ[TOKEN_DIR_ENV], f"{name}.json")
    context = Container()[PipelineContext]
    base = context.pipeline().pipelines_dir if context.is_active() else get_dlt_pipelines_dir()
    return os.path.join(base, STORE_FOLDER, f"{name}.json")


def use_airflow_token_dir() -> None:
    """Under Airflow a task's dlt folders are temporary, but rotated OAuth pairs must outlive it: keep
    token files in $AIRFLOW_HOME/bitrix24_tokens unless BITRIX24_TOKEN_DIR says otherwise (a volume
    every worker mounts on Celery or Kubernetes; or configure a TokenStore, README "OAuth")."""
    home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
    os.environ.setdefault(TOKEN_DIR_ENV, os.path.join(home, "bitrix24_tokens"))
