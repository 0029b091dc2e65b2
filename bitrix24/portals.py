"""Many portals in one configuration: the `portals` table under `[sources.bitrix24]`.

    [sources.bitrix24.portals.acme]          # .dlt/secrets.toml (or config.toml + the secret below)
    webhook_url = "https://acme.bitrix24.com/rest/1/CODE/"
    deal_category_ids = [0, 3]               # any bitrix24_source() option, for this portal only
    dataset = "crm_acme"                     # default bitrix24_<name>

Each portal is loaded by its own pipeline, `bitrix24_<name>`, into its own dataset, so its state
(cursors, backfills, the comment sweep's turn) is its own. An option a portal does not set comes
from `[sources.bitrix24]` as for a single portal; the webhook never does: a portal without its own
`webhook_url` is an error, not a load of the shared portal into the wrong dataset.

Values are read through dlt's configuration providers in their usual order (environment,
secrets.toml, config.toml), key by key, so `SOURCES__BITRIX24__PORTALS__ACME__WEBHOOK_URL` sets
one portal's secret and `SOURCES__BITRIX24__PORTALS='{"acme": {...}}'` can hold the whole table.

Authentication: an entry carries `webhook_url` or a `credentials` sub-table (the keys of
`[sources.bitrix24.credentials]`, OAuth); `auth_kwargs` hands either to the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, get_origin

import dlt
from dlt.common.configuration.inject import get_fun_spec
from dlt.common.configuration.utils import deserialize_value
from dlt.common.typing import extract_inner_type

from .errors import AuthError, Bitrix24Error, ConfigurationError, ScopeError

SECTIONS = ("sources", "bitrix24", "portals")
KEY = ".".join(SECTIONS)
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DATASET_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
OWN_KEYS = ("dataset",)  # keys of an entry that are not bitrix24_source() arguments
AUTH_KEYS = ("webhook_url", "credentials")  # a secret: never echoed, never inherited
EXAMPLE = (
    f'[{KEY}.NAME] with webhook_url = "https://NAME.bitrix24.com/rest/1/CODE/" in .dlt/secrets.toml'
)


@dataclass(frozen=True)
class Portal:
    """One entry of the table: its name, where it loads, and the options it sets itself."""

    name: str
    dataset: str
    settings: Mapping[str, Any] = field(repr=False)  # bitrix24_source() arguments, secrets included

    @property
    def pipeline_name(self) -> str:
        return f"bitrix24_{self.name}"

    @property
    def duckdb_file(self) -> str:
        """The portal's own DuckDB file when none is configured (a hyphen: never a dataset's name,
        which DuckDB requires; one file per portal, as DuckDB takes one writer at a time)."""
        return f"bitrix24-{self.name}.duckdb"

    def key(self, option: str) -> str:
        return f"{KEY}.{self.name}.{option}"

    def __repr__(self) -> str:
        return f"Portal({self.name!r}, dataset={self.dataset!r}, options={sorted(self.settings)})"


def source_keys() -> Tuple[str, ...]:
    """The options bitrix24_source() takes (its dlt configuration spec)."""
    from . import bitrix24_source

    return tuple(get_fun_spec(bitrix24_source).get_resolvable_fields())


def allowed_keys() -> Tuple[str, ...]:
    return tuple(dict.fromkeys(source_keys() + AUTH_KEYS + OWN_KEYS))


def _providers() -> List[Any]:
    """dlt's configuration providers, in lookup order (environment, secrets.toml, config.toml, ...)."""
    return [p for p in dlt.config.config_providers if not p.is_empty]


def _table_of(provider: Any) -> Dict[str, Any]:
    """The `portals` table one provider holds ({} if none); a JSON string from the environment is read."""
    value, _ = provider.get_value(SECTIONS[-1], dict, None, *SECTIONS[:-1])
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = deserialize_value(KEY, value, dict)
        except Exception:
            value = None
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"{KEY} ({provider.name}) must be a table of portals, one per name: {EXAMPLE}."
        )
    return value


def raw_tables() -> List[Tuple[Any, Dict[str, Any]]]:
    """(provider, its `portals` table) for every provider, in lookup order."""
    return [(provider, _table_of(provider)) for provider in _providers()]


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigurationError(
            f"{KEY}.{name}: a portal's name becomes its pipeline and dataset name (bitrix24_NAME), so it"
            " must be 1 to 40 lowercase letters, digits and underscores, starting with a letter;"
            f" got {name!r}. Rename the table, e.g. [{KEY}.acme_corp]."
        )
    return name


def _check_entry(name: str, entry: Any, allowed: Tuple[str, ...]) -> None:
    if not isinstance(entry, dict):
        raise ConfigurationError(
            f"{KEY}.{name} must be a table ([{KEY}.{name}] with webhook_url = ... and any options);"
            " got a single value."
        )
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise ConfigurationError(
            f"{KEY}.{name} has unknown key(s) {', '.join(map(repr, unknown))}; a portal takes"
            f" {', '.join(allowed)}."
        )


def portal_names(tables: Optional[List[Tuple[Any, Dict[str, Any]]]] = None) -> List[str]:
    """The portals configured, sorted by name, each checked (name, keys); no secret is read."""
    tables = raw_tables() if tables is None else tables
    allowed = allowed_keys()
    names: Dict[str, None] = {}
    for _, table in tables:
        for name, entry in table.items():
            _check_entry(check_name(name), entry, allowed)
            names[name] = None
    return sorted(names)


def _coerce(portal: str, option: str, value: Any, hints: Mapping[str, Any]) -> Any:
    """A value from the environment is a string: convert it as dlt converts the option's type."""
    hint = hints.get(option)
    if not isinstance(value, str) or hint is None:
        return value
    inner = extract_inner_type(hint)
    inner = get_origin(inner) or inner
    if inner in (str, Any) or not isinstance(inner, type):
        return value
    try:
        return deserialize_value(option, value, inner)
    except Exception:
        shown = "" if option in AUTH_KEYS else f" {value[:40]!r}"
        raise ConfigurationError(
            f"{KEY}.{portal}.{option} must be a value of type {getattr(inner, '__name__', inner)}; got{shown}."
        ) from None


def _lookup(name: str, option: str, tables: List[Tuple[Any, Dict[str, Any]]]) -> Any:
    """One option of one portal: the first provider that has it, key by key as dlt looks up."""
    for provider, table in tables:
        value, _ = provider.get_value(option, Any, None, *SECTIONS, name)
        if value is None:
            value = (table.get(name) or {}).get(option)
        if value is not None:
            return value
    return None


def read_portal(name: str, tables: List[Tuple[Any, Dict[str, Any]]]) -> Portal:
    """One entry, its values looked up and typed (unset options are left to [sources.bitrix24])."""
    from . import bitrix24_source

    hints = get_fun_spec(bitrix24_source).get_resolvable_fields()
    settings = {}
    for option in allowed_keys():
        value = _lookup(name, option, tables)
        if value is not None:
            settings[option] = _coerce(name, option, value, hints)
    dataset = settings.pop("dataset", None) or f"bitrix24_{name}"
    if not isinstance(dataset, str) or not DATASET_RE.match(dataset):
        raise ConfigurationError(
            f"{KEY}.{name}.dataset must be lowercase letters, digits and underscores (at most 63); got {dataset!r}."
        )
    return Portal(name=name, dataset=dataset, settings=settings)


def load_portals() -> Dict[str, Portal]:
    """Every configured portal by name (sorted); a bad table raises ConfigurationError."""
    tables = raw_tables()
    portals = {name: read_portal(name, tables) for name in portal_names(tables)}
    datasets: Dict[str, str] = {}
    for portal in portals.values():
        if portal.dataset in datasets:
            raise ConfigurationError(
                f"{portal.key('dataset')} and {KEY}.{datasets[portal.dataset]} both load into dataset"
                f" {portal.dataset!r}; give each portal its own dataset."
            )
        datasets[portal.dataset] = portal.name
    return portals


def get_portal(name: str) -> Portal:
    """One portal by name; an unknown name is an error that lists the known ones."""
    portals = load_portals()
    if name not in portals:
        known = ", ".join(portals) or f"none (add {EXAMPLE})"
        raise ConfigurationError(f"No portal {name!r} in {KEY}; configured portals: {known}.")
    return portals[name]


def auth_kwargs(portal: Portal) -> Dict[str, Any]:
    """How the portal authenticates, as bitrix24_source() arguments: its own webhook_url, or its
    `credentials` section handed to the source as is (the OAuth credentials' place)."""
    webhook, credentials = portal.settings.get("webhook_url"), portal.settings.get("credentials")
    if webhook is not None and credentials is not None:
        raise ConfigurationError(
            f"{KEY}.{portal.name} has both webhook_url and credentials; keep the one the portal should use."
        )
    if credentials is not None:
        return {"credentials": credentials}
    if not isinstance(webhook, str) or not webhook.strip():
        raise ConfigurationError(
            f"{portal.key('webhook_url')} is not set: put the portal's inbound webhook URL under"
            f" [{KEY}.{portal.name}] in .dlt/secrets.toml, or in"
            f" SOURCES__BITRIX24__PORTALS__{portal.name.upper()}__WEBHOOK_URL."
        )
    return {"webhook_url": webhook}


def source_kwargs(portal: Portal) -> Dict[str, Any]:
    """bitrix24_source() arguments for this portal: its own options and its authentication."""
    options = {k: v for k, v in portal.settings.items() if k not in AUTH_KEYS}
    options.update(auth_kwargs(portal))
    return options


def portal_message(portal: Portal, text: str) -> str:
    """A message of the source, with the keys this portal sets itself named under its entry."""
    for option in sorted(portal.settings, key=len, reverse=True):  # longest first: no key is a prefix
        text = re.sub(rf"\bsources\.bitrix24\.{option}\b", portal.key(option), text)
        text = re.sub(rf"\bSOURCES__BITRIX24__{option.upper()}\b",
                      f"SOURCES__BITRIX24__PORTALS__{portal.name.upper()}__{option.upper()}", text)
    return " ".join(text.split())


def portal_source(portal: Portal, **overrides: Any) -> Any:
    """bitrix24_source() for this portal; `overrides` win over the entry (e.g. the CLI's --streams)."""
    from . import bitrix24_source

    try:
        return bitrix24_source(**{**source_kwargs(portal), **overrides})
    except Bitrix24Error as exc:
        exc.args = (portal_message(portal, str(exc)),)
        raise


class PortalLoadError(Bitrix24Error):
    """One portal's load failed: `portal NAME: <what failed and the fix>`, one line. `permanent`: a
    setting or the webhook is wrong (retrying cannot help); else the next run may succeed."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def expected_error(exc: BaseException) -> Optional[Bitrix24Error]:
    """The source's own error behind an exception (dlt wraps errors in its step failures), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Bitrix24Error):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def failed_text(failed: Mapping[str, str]) -> str:
    """`N stream(s) failed: a, b: <message>; c: <message>`, streams with the same message together
    (a rejected webhook fails every stream alike)."""
    by_message: Dict[str, List[str]] = {}
    for stream, text in sorted(failed.items()):
        by_message.setdefault(text, []).append(stream)
    parts = [f"{', '.join(streams)}: {text.rstrip('.')}" for text, streams in by_message.items()]
    return f"{len(failed)} stream(s) failed: " + "; ".join(parts)


def _run_portal(portal: Portal, pipeline: Any, max_run_minutes: Optional[float], slice_rows: int,
                **source_options: Any) -> Any:
    from .backfill import run_in_slices

    def make_source(max_run_minutes: Optional[float] = None) -> Any:
        return portal_source(portal, backfill_slice_rows=slice_rows or None, max_run_minutes=max_run_minutes,
                             **source_options)

    duckdb = pipeline.destination.destination_type == "dlt.destinations.duckdb"
    return run_in_slices(pipeline, make_source, max_run_minutes=max_run_minutes,
                         loader_file_format="jsonl" if duckdb else None)


def load_portal(name: str, destination: Any, max_run_minutes: Optional[float] = None, slice_rows: int = 10_000,
                **source_options: Any) -> Dict[str, Any]:
    """Load one portal of the table by its own pipeline into its own dataset, as an orchestrator's task
    does: a first sync in slices of `slice_rows` (stopping cleanly after `max_run_minutes`; the next
    call resumes), later calls only what changed since this portal's last load. Returns a summary
    (no secret in it); raises PortalLoadError with one line when the portal or a stream failed.
    `destination`: a dlt destination, or a function of the Portal that returns one."""
    portal = get_portal(name)
    target = destination(portal) if callable(destination) else destination
    progress = dlt.progress.log(log_period=30.0, dump_system_stats=False)
    pipeline = dlt.pipeline(portal.pipeline_name, destination=target, dataset_name=portal.dataset, progress=progress)
    try:
        report = _run_portal(portal, pipeline, max_run_minutes, slice_rows, **source_options)
    except Exception as exc:
        cause = expected_error(exc)
        if cause is None:
            raise
        permanent = isinstance(cause, (ConfigurationError, AuthError, ScopeError))
        raise PortalLoadError(f"portal {name}: {portal_message(portal, str(cause))}", permanent) from None
    if report.failed:
        raise PortalLoadError(portal_message(portal, f"portal {name}: {failed_text(report.failed)}"))
    from .backfill import report_totals

    rows, requests = report_totals(report)
    return {"portal": name, "pipeline": portal.pipeline_name, "dataset": portal.dataset, "rows": rows,
            "requests": requests, "slices": report.slices, "pending_backfills": sorted(report.pending)}
