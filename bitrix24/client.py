"""HTTP client for one Bitrix24 portal: throttle, retries, operating-time pauses, redaction.

All traffic goes through `Bitrix24Client.call` (one method) or `Bitrix24Client.batch` (up to 50
commands in one HTTP request). Both send POST with a JSON body and return the parsed envelope.

Error semantics (decided on the Bitrix `error` code first, HTTP status second):

* retried with backoff, within `max_retry_seconds` in total: 503 / QUERY_LIMIT_EXCEEDED, any other
  5xx, bodies that are not JSON (HTML error pages, truncated JSON), connection errors and timeouts;
* waited out: 429 / OPERATION_TIME_LIMIT, and any answer whose `time.operating` is above
  `operating_time_threshold` — the method pauses until `operating_reset_at` (with no known reset
  time, a 429 probes with a growing wait: 5, 10, 20, 40, 60 s), other methods go on;
* first contact: until one answer has been Bitrix-shaped (a JSON object with `result` or `error`),
  anything else (HTML with any status, other JSON, TLS or connection errors) fails after at most
  FIRST_CONTACT_ATTEMPTS attempts / FIRST_CONTACT_SECONDS with one message naming webhook_url;
* raised at once with a message naming the fix: authentication errors (AuthError), missing scopes
  (ScopeError), unknown methods (MethodNotFoundError) and every other Bitrix error (ApiError).

The retry loop is ours rather than tenacity's (which `dlt.sources.helpers.requests.Client` wraps)
because Bitrix needs it: retries are bounded by time, not attempts; a 429 waits for a reset time
taken from an earlier answer; a 200 with an HTML body must be retried; and every attempt has to pass
the shared throttle. The transport is dlt's `requests` session (timeouts, User-Agent).

Every wait goes through `_wait`: a wait over ~15 s logs one WARNING (what for, until when in UTC),
then at most one line a minute; one operating-time pause is announced once, however many commands
or threads run into it. `ClientStats.wall_waits()` reports waits as wall time.

The webhook code never leaves this module: URLs are not logged, exceptions are re-raised with the
code replaced by `***`, and a logging filter scrubs it from urllib3's debug lines. With OAuth
(`oauth.py`) every request carries `auth=ACCESS_TOKEN` in its JSON body; the filter learns the client
secret and each token before a request carries it. A 401 `expired_token` / `invalid_token` refreshes
the pair (one thread; the others wait and reuse it) and repeats the call.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import pendulum
import requests as _requests
from dlt.common import json
from dlt.sources.helpers.requests import Session

from .config import parse_webhook_url
from .errors import (
    ApiError,
    AuthError,
    MethodNotFoundError,
    OAuthError,
    RetryBudgetExceeded,
    ScopeError,
)
from .throttle import LeakyBucket
from .waits import LOUD_WAIT, NOTE_EVERY, WaitNotices, WallTime, wall_clock_in

logger = logging.getLogger("bitrix24")

AUTH_ERRORS = {
    "NO_AUTH_FOUND": "the request carried no webhook credentials",
    "INVALID_CREDENTIALS": "the webhook code or user id is wrong, or the webhook was deleted,"
    " deactivated or has expired",
    "INVALID_REQUEST": "the portal refused the request (webhooks need https://)",
    "expired_token": "the access token has expired",
    "ACCESS_DENIED_SUBSCRIPTION": "the portal has no paid plan that allows REST access",
    "OVERLOAD_LIMIT": "Bitrix24 support has blocked REST access for this webhook because of overload",
    "PORTAL_DELETED": "the portal was deleted or is closed",
}
AUTH_FIX = (
    " Create a new inbound webhook in Bitrix24 (Developer resources > Other > Inbound webhook) and"
    " put its URL in sources.bitrix24.webhook_url."
)
APP_AUTH_FIX = (
    " Check that the application is still installed on the portal and its plan allows REST, then check"
    " [sources.bitrix24.credentials]."
)
FIRST_CONTACT_ATTEMPTS = 3  # a URL that never gave one Bitrix answer fails after this many tries
FIRST_CONTACT_SECONDS = 30.0  # ... or once this much time has gone by
URL_FIX = (
    " Check sources.bitrix24.webhook_url: it must be the inbound webhook URL exactly as Bitrix24 shows"
    " it, https://<portal>/rest/<user id>/<code>/."
)
DOMAIN_FIX = " Check sources.bitrix24.credentials.domain: it must be the portal's address, such as acme.bitrix24.com."
TOKEN_CODES = ("expired_token", "invalid_token")  # OAuth: refresh the pair and repeat the call
MAX_RENEWALS = 3  # token refreshes one call may ask for before its rejection is final
LIMIT_GIVE_UP = 1800.0  # s: a method refused for this long (three of Bitrix's 10-minute windows) fails
PROBE_WAITS = (5.0, 10.0, 20.0, 40.0, 60.0)  # 429 with no known reset time: probe, growing per method
FALLBACK_AFTER = 2  # consecutive 5xx/garbage failures after which a batch's fallback is sent (once)
RETRY_CODES = {"QUERY_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER", "ERROR_CORE"}
LIMIT_CODES = ("OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED")
ACCESS_CODES = ("insufficient_scope", "ACCESS_DENIED")
BATCH_PARTS = ("result", "result_error", "result_total", "result_next", "result_time")


class _TokenRejected(Exception):
    """The portal rejected an OAuth access token (`expired_token`, `invalid_token`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class CommandError:
    """One command that failed inside a batch, classified once by the rules that classify an HTTP
    answer (`Bitrix24Client.error_for`); `client.batch()` puts these in `result_error`."""

    method: str
    code: str
    description: str
    classify: Callable[[], Exception]  # what the same error would raise as an HTTP answer (asked when raised)

    @property
    def is_limit(self) -> bool:
        """The method is over its operating time (or the portal's rate): pause it and repeat."""
        return self.code in LIMIT_CODES

    @property
    def is_access(self) -> bool:
        """No right or scope: a retry will not pass."""
        return self.code in ACCESS_CODES or "Access denied" in self.description

    @property
    def maybe_gone(self) -> bool:
        """"Not found" / "Access denied" for one record: deleted meanwhile, or hidden from the webhook."""
        text = self.description.lower()
        return self.code == "NOT_FOUND" or text.startswith("not found") or text.startswith("access denied")

    def exception(self) -> Exception:
        """The error to raise (never a retry): a transient one says it kept failing."""
        error = self.classify()
        if isinstance(error, _Transient):
            return ApiError(f"Bitrix24 {self.method} kept failing inside a batch: {error.why}", method=self.method)
        return error


class _Transient(Exception):
    """An attempt failed in a way worth retrying."""

    def __init__(self, why: str, wait: Optional[float] = None, penalize: bool = False, unreachable: bool = False,
                 pause: Sequence[str] = ()) -> None:
        super().__init__(why)
        self.why = why
        self.wait = wait  # None: backoff; < 0: rate limit; > 0: seconds to pause `pause`
        self.penalize = penalize
        self.unreachable = unreachable  # no connection, or not Bitrix at all: fatal on first contact
        self.pause = tuple(pause)  # methods over the operating-time limit (429)


@dataclass
class _Retry:
    """State of one call's retry loop."""

    started: float
    fallback: Optional[Dict[str, Any]] = None  # params sent once instead, after FALLBACK_AFTER failures
    attempt: int = 0
    renewals: int = 0  # OAuth token refreshes this call asked for
    failures: int = 0  # consecutive 5xx / garbage / network failures
    use_fallback: bool = False  # the next attempt sends the fallback
    fallback_sent: bool = False

    def params(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """What this attempt sends."""
        if self.use_fallback and self.fallback is not None:
            self.use_fallback, self.fallback_sent = False, True
            return self.fallback
        return params

    def failed(self, fault: "_Transient") -> None:
        self.failures = self.failures + 1 if fault.wait is None else 0
        self.use_fallback = (self.fallback is not None and not self.fallback_sent
                             and self.failures >= FALLBACK_AFTER)


class _Redactor(logging.Filter):
    """Logging filter that replaces secrets in a record's message and arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set = set()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            try:
                message = record.getMessage()
            except Exception:
                return True
            scrubbed = self.scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


REDACTOR = _Redactor()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests", "bitrix24"):
    logging.getLogger(_name).addFilter(REDACTOR)


class ClientStats:
    """Counters for the run summary and for tests (thread-safe).

    `throttle_wait`, `limit_wait` and `retry_wait` sum the waits of all threads (two threads waiting
    10 s at once count 20 s); `wall_waits()` gives the wall time in which at least one thread waited.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self.wall = WallTime(clock)
        self.http_requests: Counter = Counter()  # by top-level method ("batch" for batches)
        self.commands: Counter = Counter()  # API method executions, direct or inside a batch
        self.retries: Counter = Counter()  # by reason
        self.tombstones: Counter = Counter()  # by table: marker rows sent this run, never stored
        self.throttle_wait = 0.0
        self.limit_wait = 0.0  # operating-time pauses and 429 waits
        self.retry_wait = 0.0

    def add(self, **kw: Any) -> None:
        with self._lock:
            for key, value in kw.items():
                setattr(self, key, getattr(self, key) + value)

    def add_tombstones(self, table: str, rows: int) -> None:
        with self._lock:
            self.tombstones[table] += rows

    def count(self, http_method: str, commands: Iterable[str], retry: Optional[str] = None) -> None:
        with self._lock:
            self.http_requests[http_method] += 1
            self.commands.update(commands)
            if retry:
                self.retries[retry] += 1

    def wall_waits(self) -> Dict[str, float]:
        """Seconds of wall time in which at least one thread was waiting, by kind: "throttle" (the
        request-rate throttle), "limit" (operating-time pauses, 429), "retry" (backoff before a
        retry) and "any" (waiting for anything)."""
        return self.wall.totals()

    @property
    def total_requests(self) -> int:
        return sum(self.http_requests.values())


def _method_of(command: str) -> str:
    return command.split("?", 1)[0].strip().lower()


def _network_why(exc: Exception, timeout: float) -> str:
    """What a failed connection looked like, in words (no URL: it holds the code)."""
    name = type(exc).__name__
    if isinstance(exc, _requests.exceptions.SSLError):
        return f"a TLS error ({name})"
    if isinstance(exc, _requests.exceptions.ConnectTimeout):
        return f"no connection within {timeout:g}s ({name})"
    if isinstance(exc, _requests.exceptions.Timeout):
        return f"no answer within {timeout:.0f}s ({name})"
    if isinstance(exc, _requests.exceptions.ConnectionError):
        return f"network error: the connection was refused or broken ({name})"
    return f"network error ({name})"


def _describe_body(content: bytes, body: Any) -> str:
    """An answer that is no Bitrix envelope, in words: "an HTML page", "a JSON list", ..."""
    if isinstance(body, dict):
        return "JSON that is not a Bitrix24 answer (neither result nor error)"
    if isinstance(body, list):
        return "a JSON list, not a Bitrix24 answer"
    if body is not None:
        return "a bare JSON value, not a Bitrix24 answer"
    if not content.strip():
        return "an empty body"
    return "an HTML page" if content.lstrip()[:1] == b"<" else "a body that is not valid JSON"


_LATEST: "list[Bitrix24Client]" = []


def latest_client() -> "Optional[Bitrix24Client]":
    """The client of the most recently built source (for run summaries: requests, waits)."""
    return _LATEST[-1] if _LATEST else None


def descriptor_map(result: Any) -> Dict[str, Any]:
    """A `.fields` result as {code: descriptor} (`crm.item.fields` wraps it in `fields`)."""
    if isinstance(result, dict) and isinstance(result.get("fields"), dict):
        result = result["fields"]
    return dict(result) if isinstance(result, dict) else {}


class Bitrix24Client:
    """One portal, one throttle, any number of threads."""

    def __init__(
        self,
        webhook_url: Any,
        *,
        requests_per_second: float = 2.0,
        request_burst: int = 50,
        operating_time_threshold: float = 200.0,
        max_retry_seconds: float = 900.0,
        request_timeout: float = 120.0,
        request_concurrency: int = 4,
        sleep=time.sleep,
        clock=time.monotonic,
    ) -> None:
        """`webhook_url`: a webhook URL, a parsed `Webhook`, or an `OAuthSession` (oauth.py; see
        `auth.make_client`). `request_concurrency`: how many independent batches `batches()` keeps
        in flight at once (every one of them still passes the throttle). `sleep` and `clock` (a
        monotonic clock) are for tests: every wait the client decides on goes through `sleep`, and
        pauses, budgets and wall-time accounting read `clock`."""
        self.webhook = webhook_url if hasattr(webhook_url, "sign") else parse_webhook_url(webhook_url)
        self.webhook.watch(REDACTOR.secrets.add)
        self._sleep = sleep
        self._now = clock
        self.bucket = LeakyBucket(requests_per_second, request_burst, clock=clock, sleep=self._throttle_sleep)
        self.operating_time_threshold = float(operating_time_threshold)
        self.max_retry_seconds = float(max_retry_seconds)
        self.request_timeout = request_timeout
        self.request_concurrency = max(1, int(request_concurrency))
        self._pool: Optional[ThreadPoolExecutor] = None
        self.stats = ClientStats(clock)
        self.notices = WaitNotices(clock)
        self._probes: Dict[str, int] = {}  # method -> 429s in a row with no known reset time
        self._limited_since: Dict[str, float] = {}  # method -> first 429 with no success since
        self._local = threading.local()
        self._lock = threading.Lock()
        self._blocked_until: Dict[str, float] = {}  # method -> self._now() when usable again
        self._reset_at: Dict[str, float] = {}  # method -> seconds from last answer to its reset
        self._clock: Optional[Tuple[float, float, str]] = None  # (portal_ts, monotonic, offset)
        self.first_request_at: Optional[float] = None  # time.monotonic() of the first HTTP request
        self._cache: Dict[Any, Any] = {}
        self._cache_locks: Dict[Any, threading.Lock] = {}
        self._reached = False  # set by the first answer that is Bitrix JSON
        self.failures: Dict[str, str] = {}  # streams that failed for good this run (isolation.py)
        self.fields_methods: Tuple[str, ...] = ()  # `.fields` methods of this run (one batch)
        _LATEST[:] = [self]

    def __repr__(self) -> str:
        return f"Bitrix24Client({self.webhook!r})"

    # ------------------------------------------------------------------ transport

    @property
    def _session(self) -> Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = Session(timeout=self.request_timeout, raise_for_status=False)
        return session

    def call(self, method: str, params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Call one method; returns the whole envelope (`result`, `next`, `total`, `time`)."""
        envelope, _ = self._request(method, dict(params or {}), [_method_of(method)])
        self._succeeded([_method_of(method)])
        return envelope

    def batch(
        self, commands: Mapping[str, str], halt: bool = False, fallback: Optional[Mapping[str, str]] = None
    ) -> Dict[str, Any]:
        """Run up to 50 `method?query` commands in one request.

        Returns {"result": {...}, "result_error": {...}, "result_total": {...},
        "result_next": {...}, "result_time": {...}, "fallback": bool} with PHP's `[]` turned into `{}`.

        `fallback`: other commands (same keys, same methods) that the portal may take better. When
        the batch has failed twice in a row with a 5xx, an HTML page or a network error, the
        fallback is sent once instead; `"fallback": True` says the answer is for those commands.
        """
        if not commands:
            return {"result": {}, "result_error": {}, "result_total": {}, "result_next": {}, "result_time": {},
                    "fallback": False}
        if len(commands) > 50 or len(fallback or {}) > 50:
            raise ValueError("a Bitrix24 batch holds at most 50 commands")
        spare = {"halt": 1 if halt else 0, "cmd": dict(fallback)} if fallback else None
        envelope, used_fallback = self._request(
            "batch",
            {"halt": 1 if halt else 0, "cmd": dict(commands)},
            [_method_of(c) for c in commands.values()],
            fallback=spare,
        )
        out = self._batch_parts(envelope, fallback if used_fallback and fallback else commands)
        out["fallback"] = used_fallback
        return out

    def batches(self, commands: Sequence[Mapping[str, str]]) -> Iterator[Dict[str, Any]]:
        """`batch()` for each of these independent command maps, up to `request_concurrency` of
        them in flight at once; yields the answers in order (an error is raised in its place).

        The throttle is the budget: each request still reserves its slot in the shared bucket
        before it is sent, so the portal's burst is spent on requests that overlap their server
        time instead of waiting one after another, and the 2-a-second rate is never exceeded.
        """
        if self.request_concurrency <= 1 or len(commands) <= 1:
            for one in commands:
                yield self.batch(one)
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.request_concurrency, thread_name_prefix="bitrix24-batch")
        todo = iter(commands)
        flying: Deque[Future] = deque()
        try:
            for one in todo:
                flying.append(self._pool.submit(self.batch, one))
                if len(flying) >= self.request_concurrency:
                    yield flying.popleft().result()
            while flying:
                yield flying.popleft().result()
        finally:
            for future in flying:
                future.cancel()

    def run_commands(self, commands: Mapping[str, str]) -> Dict[str, Any]:
        """Any number of independent commands, 50 to a request (`batches`: up to `request_concurrency`
        in flight); one answer, the five maps of every request merged."""
        keys = list(commands)
        maps = [{k: commands[k] for k in keys[at:at + 50]} for at in range(0, len(keys), 50)]
        merged: Dict[str, Any] = {part: {} for part in BATCH_PARTS}
        for answer in self.batches(maps):
            for part in BATCH_PARTS:
                merged[part].update(answer[part])
        return merged

    def _batch_parts(self, envelope: Dict[str, Any], commands: Mapping[str, str]) -> Dict[str, Any]:
        """The five maps of a batch answer; notes each command's timing and which methods succeeded."""
        body = envelope.get("result") or {}
        out = {}
        for part in BATCH_PARTS:
            value = body.get(part) if isinstance(body, dict) else None
            if isinstance(value, list):  # PHP serialises an empty map, or keys 0..n-1, as a list
                value = {str(i): v for i, v in enumerate(value)}
            out[part] = value or {}
        out["result_error"] = {key: self.command_error(_method_of(commands.get(key, "")) or "batch", error)
                               for key, error in out["result_error"].items()}
        for key, timing in out["result_time"].items():
            cmd = commands.get(key)
            if cmd is not None and isinstance(timing, dict):
                self._note_timing(_method_of(cmd), timing)
        self._succeeded({_method_of(commands[key]) for key in out["result"] if key in commands})
        return out

    def _request(
        self, method: str, params: Dict[str, Any], methods: List[str], fallback: Optional[Dict[str, Any]] = None
    ) -> Tuple[Dict[str, Any], bool]:
        """POST until an answer comes or the retry budget is spent; returns the envelope and whether
        it answers `fallback` (sent once instead of `params`, see `batch`)."""
        url = self.webhook.base_url + method
        retry = _Retry(started=self._now(), fallback=fallback)
        while True:
            retry.attempt += 1
            sending = retry.params(params)
            self._wait_for_methods(methods)
            self.bucket.acquire()
            signed, generation = self.webhook.sign(sending)
            try:
                envelope = self._attempt(url, method, signed, methods, retry)
            except _TokenRejected as rejected:
                self._renew(method, rejected.code, generation, retry)
                continue
            except _Transient as fault:
                self._after_failure(method, fault, retry)
                continue
            return envelope, sending is not params

    def _renew(self, method: str, code: str, generation: int, retry: _Retry) -> None:
        """The access token was rejected: refresh it once (one thread does; see oauth.py) and repeat."""
        retry.renewals += 1
        if retry.renewals > MAX_RENEWALS:
            raise OAuthError(
                f"Bitrix24 portal {self.webhook.host} kept rejecting fresh access tokens of the application ({code}"
                f" on {method}, {MAX_RENEWALS} refreshes in a row). Check that the application is installed on this"
                " portal and that sources.bitrix24.credentials.domain names it."
            )
        logger.info("%s: the access token was rejected (%s); renewing it and repeating the call", method, code)
        self.webhook.renew(generation)

    def _after_failure(self, method: str, fault: _Transient, retry: _Retry) -> None:
        """Give up (raise), pause the methods over their limit, or wait before the next attempt."""
        if fault.penalize:
            self.bucket.penalize()
        wait = self._backoff(fault, retry.attempt)
        elapsed = self._now() - retry.started
        if not self._reached and fault.unreachable and (
            retry.attempt >= FIRST_CONTACT_ATTEMPTS or elapsed + wait > FIRST_CONTACT_SECONDS
        ):
            # Never got a Bitrix answer: a wrong host or URL, not a passing fault.
            raise self._not_bitrix(fault.why, retry.attempt) from None
        if not fault.pause and elapsed + wait > self.max_retry_seconds:  # 429s: _check_limit_budget
            raise RetryBudgetExceeded(
                f"Bitrix24 call {method} kept failing for {elapsed:.0f}s ({retry.attempt} attempts;"
                f" last: {fault.why}); giving up after max_retry_seconds="
                f"{self.max_retry_seconds:g}. Rows loaded so far are kept and the next run"
                " resumes from the saved incremental state."
            ) from None
        retry.failed(fault)
        if fault.pause:  # the next attempt waits for the pause (and so do other threads)
            for name in set(fault.pause):
                self._check_limit_budget(name, wait)
                if self._pause(name, wait):
                    logger.warning("%s is over the Bitrix24 operating-time limit (%s); pausing it for %.0fs,"
                                   " until %s", name, fault.why, wait, wall_clock_in(wait))
            return
        also = "; next attempt without the batch's zero-prefixed bounds" if retry.use_fallback else ""
        logger.info("%s: %s; retrying in %.1fs (attempt %d)%s", method, fault.why, wait, retry.attempt, also)
        self._wait(wait, "retry", ("retry", method), f"a retry of {method} after {fault.why}")

    @staticmethod
    def _backoff(fault: _Transient, attempt: int) -> float:
        """Seconds to wait before the next attempt."""
        if fault.wait is not None and fault.wait > 0:
            return fault.wait  # a pause until the method's reset (or a probe): exact
        if fault.wait is None:  # 5xx, network, garbage: exponential backoff
            wait = min(30.0, 0.5 * 2 ** (attempt - 1))
        else:  # rate limit: the throttle spaces retries; grow slowly
            wait = min(5.0, 0.05 * attempt)
        return wait * (1.0 + random.random() * 0.1)

    def _not_bitrix(self, why: str, attempts: int) -> AuthError:
        """The one message for a URL that never answered like Bitrix24 (never with the code)."""
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        return AuthError(REDACTOR.scrub(
            f"Could not reach the Bitrix24 REST API at {self.webhook.host} ({tries}): {why}."
            f"{URL_FIX if self.webhook.kind == 'webhook' else DOMAIN_FIX}"
        ))

    def _attempt(self, url: str, method: str, params: Dict[str, Any], methods: List[str], retry: _Retry) -> Dict[str, Any]:
        if self.first_request_at is None:
            self.first_request_at = time.monotonic()  # the run's clock (max_run_minutes) starts here
        self.stats.count(_method_of(method), methods, None if retry.attempt == 1 else "retry")
        status, content, location = self._post(url, params, retry)
        if status in (301, 302, 307, 308):
            raise AuthError(
                f"The portal {self.webhook.host} answered with a redirect to {location or 'another address'}:"
                f" it was probably renamed. Put the new address in {self.webhook.url_key}."
            )
        try:
            body = json.loadb(content) if content else None
        except Exception:
            body = None
        if not isinstance(body, dict) or (not self._reached and "result" not in body and "error" not in body):
            raise self._not_an_envelope(method, status, content, body, retry.attempt)
        self._reached = True
        if "error" in body and "result" not in body:
            if self.webhook.uses_tokens and body["error"] in TOKEN_CODES:
                raise _TokenRejected(str(body["error"]))
            raise self.error_for(method, status, body, methods)
        if status >= 500:
            raise _Transient(f"HTTP {status}")
        timing = body.get("time")
        if isinstance(timing, dict):
            self._note_clock(timing)
            if method != "batch":
                self._note_timing(_method_of(method), timing)
        return body

    def _post(self, url: str, params: Dict[str, Any], retry: _Retry) -> Tuple[int, bytes, str]:
        """One POST: (status, body, redirect location); network errors become a _Transient.

        Until the portal has answered once, an attempt may use only what is left of
        FIRST_CONTACT_SECONDS, so that a URL that hangs fails in about that time."""
        timeout = self.request_timeout
        if not self._reached:
            left = FIRST_CONTACT_SECONDS - (self._now() - retry.started)
            timeout = max(1.0, min(float(timeout), left))
        try:
            resp = self._session.post(url, data=json.dumpb(params), headers={"Content-Type": "application/json"},
                                      timeout=timeout)
        except _requests.RequestException as exc:
            raise _Transient(_network_why(exc, timeout), unreachable=True) from None
        return resp.status_code, resp.content, REDACTOR.scrub(resp.headers.get("Location", ""))

    def _not_an_envelope(self, method: str, status: int, content: bytes, body: Any, attempt: int) -> Exception:
        """The error for an answer that is not a Bitrix envelope: fatal on first contact (at once
        for a 4xx, after FIRST_CONTACT_ATTEMPTS otherwise), later retried or raised as before."""
        why = f"HTTP {status} with {_describe_body(content, body)}"
        if not self._reached:
            if 400 <= status < 500 and status != 429:
                return self._not_bitrix(f"it answered {why} instead of Bitrix24 JSON", attempt)
            return _Transient(f"it answered {why} instead of Bitrix24 JSON", penalize=status == 503, unreachable=True)
        if status >= 500 or status in (200, 429):
            return _Transient(why, penalize=status == 503)
        return ApiError(
            f"{self.webhook.host} answered {method} with {why}; the address in"
            f" {self.webhook.url_key} does not look like a Bitrix24 REST endpoint.",
            method=method,
        )

    def error_for(self, method: str, status: int, body: Mapping[str, Any], methods: Iterable[str] = ()) -> Exception:
        """What an error answer means: the exception for it (a `_Transient` one is retried)."""
        code = str(body.get("error") or "")
        description = REDACTOR.scrub(str(body.get("error_description") or ""))
        if code == "ACCESS_DENIED" and ("subscription" in description.lower() or "commercial" in description.lower()):
            code = "ACCESS_DENIED_SUBSCRIPTION"
        if code in AUTH_ERRORS:  # decided on the code first: OVERLOAD_LIMIT may come as a 503
            return AuthError(
                f"Bitrix24 portal {self.webhook.host} rejected the {self.webhook.kind}: {AUTH_ERRORS[code]}"
                f" ({code}: {description}).{AUTH_FIX if self.webhook.kind == 'webhook' else APP_AUTH_FIX}"
            )
        if code == "QUERY_LIMIT_EXCEEDED" or status == 503:
            # The portal's bucket is full: the throttle now spaces requests at 1/rate; add a
            # slowly growing pause on top (see _request).
            return _Transient(f"{code or 'HTTP 503'} (portal request-rate limit)", penalize=True, wait=-1.0)
        if code == "OPERATION_TIME_LIMIT" or status == 429:
            # A batch answers 429 for the method its commands use: wait for that method's reset.
            names = sorted(set(methods) or {_method_of(method)})
            wait = max(self._operating_wait(m, blocked=True) for m in names)
            return _Transient(f"{code or 'HTTP 429'} on {method}", wait=wait, pause=names)
        if code in RETRY_CODES or status >= 500:
            return _Transient(f"{code or 'error'} (HTTP {status})")
        if code == "insufficient_scope":
            return ScopeError(
                f"The {self.webhook.kind} may not call {method}: it lacks the scope this method needs. Edit the"
                f" {'inbound webhook' if self.webhook.kind == 'webhook' else 'application'} in Bitrix24 and tick"
                " the scope, or leave the stream out.",
                method=method,
            )
        if code == "ERROR_METHOD_NOT_FOUND":
            return MethodNotFoundError(
                f"Portal {self.webhook.host} does not know the method {method} (it may be switched off"
                " on this portal, or the webhook URL is missing its user id segment).",
                method=method,
            )
        return ApiError(
            f"Bitrix24 {method} failed: {code + ': ' if code else ''}{description} (HTTP {status})",
            code=code,
            description=description,
            method=method,
        )

    # ------------------------------------------------------------------ limits and clock

    def _note_clock(self, timing: Mapping[str, Any]) -> None:
        finish = timing.get("finish", timing.get("start"))
        if not isinstance(finish, (int, float)):
            return
        stamp = timing.get("date_finish") or timing.get("date_start") or ""
        offset = stamp[19:] if isinstance(stamp, str) and len(stamp) >= 25 else "+00:00"
        with self._lock:
            self._clock = (float(finish), time.monotonic(), offset)

    def _note_timing(self, method: str, timing: Mapping[str, Any]) -> None:
        """Remember the method's reset time; pause it once its operating time passes the threshold
        (one log line per pause, however many commands of a batch report it)."""
        operating = timing.get("operating")
        reset_at = timing.get("operating_reset_at")
        finish = timing.get("finish", timing.get("start"))
        if isinstance(reset_at, (int, float)) and isinstance(finish, (int, float)):
            with self._lock:
                self._reset_at[method] = (max(0.0, float(reset_at) - float(finish)), self._now())
        if isinstance(operating, (int, float)) and operating > self.operating_time_threshold:
            wait = self._operating_wait(method)
            if self._pause(method, wait):
                logger.warning(
                    "%s has used %.0fs of Bitrix24 operating time in the last 10 minutes (threshold %gs);"
                    " pausing this method for %.0fs, until %s, when the portal's window resets",
                    method,
                    operating,
                    self.operating_time_threshold,
                    wait,
                    wall_clock_in(wait),
                )

    def _operating_wait(self, method: str, blocked: bool = False) -> float:
        """Seconds until the method's operating window frees up. Unknown: 0, or when the method is
        blocked a probe growing with each block in a row (PROBE_WAITS: 5, 10, 20, 40, 60, 60 ... s)."""
        with self._lock:
            known = self._reset_at.get(method)
            if known:
                seconds, at = known
                left = seconds - (self._now() - at)
                if left > 0:
                    return left + 1.0
            if not blocked:
                return 0.0
            paused = self._blocked_until.get(method, 0.0) - self._now()
            if paused > 0:  # another thread's 429 started a probe already: join it
                return paused
            probes = self._probes.get(method, 0)
            self._probes[method] = probes + 1
        return PROBE_WAITS[min(probes, len(PROBE_WAITS) - 1)]

    def _succeeded(self, methods: Iterable[str]) -> None:
        """These methods answered: their next block probes from the shortest wait again."""
        with self._lock:
            for method in methods:
                self._probes.pop(method, None)
                self._limited_since.pop(method, None)

    def _pause(self, method: str, wait: float) -> bool:
        """Pause `method` for `wait` seconds (a pause is never shortened). True when the pause is
        new or extended substantially: the caller logs it, once."""
        if wait <= 0:
            return False
        until = self._now() + wait
        with self._lock:
            self._blocked_until[method] = max(self._blocked_until.get(method, 0.0), until)
        return self.notices.starts(("pause", method), until)

    def _wait_for_methods(self, methods: Iterable[str]) -> None:
        now = self._now()
        with self._lock:
            until, method = max(((self._blocked_until.get(m, 0.0), m) for m in set(methods)), default=(0.0, ""))
        if until > now:
            self._wait(until - now, "limit", ("pause", method), f"the operating-time pause of {method}")

    def _throttle_sleep(self, seconds: float) -> None:
        """The throttle's sleep (LeakyBucket calls it)."""
        self._wait(seconds, "throttle", ("throttle",), "the request-rate throttle")

    def _wait(self, seconds: float, kind: str, key: Any, what: str) -> None:
        """Sleep `seconds` waiting for `what` (`kind`: throttle, limit, retry; `key` names this wait
        among threads). A wait over LOUD_WAIT logs one WARNING with its end in wall-clock time
        (unless that wait was announced already), then at most one line a minute."""
        if seconds <= 0:
            return
        self.stats.add(**{f"{kind}_wait": seconds})
        if seconds > LOUD_WAIT and self.notices.starts(key, self._now() + seconds):
            logger.warning("Waiting %.0fs for %s, until %s", seconds, what, wall_clock_in(seconds))
        self.stats.wall.enter(kind)
        try:
            left = seconds
            while left > 0:
                chunk = min(left, NOTE_EVERY)
                self._sleep(chunk)
                left -= chunk
                if left >= 1.0 and self.notices.due(key):
                    logger.warning("Still waiting for %s: %.0fs left, until %s", what, left, wall_clock_in(left))
        finally:
            self.stats.wall.leave(kind)

    def scopes(self) -> List[str]:
        """The webhook's scopes (`scope` method), asked once per client."""
        return self.cached("scope", self._ask_scopes)

    def _ask_scopes(self) -> List[str]:
        # The run's `.fields` methods ride along: one request for the metadata of every stream.
        fields = self._fields_wanted()[: 50 - 1]
        if not fields:
            return [str(s) for s in (self.call("scope").get("result") or [])]
        answer = self._fields_batch(fields, {"scope": "scope"})
        if "scope" in answer["result_error"]:
            raise answer["result_error"]["scope"].exception()
        return [str(s) for s in (answer["result"].get("scope") or [])]

    def prefetch_fields(self) -> bool:
        """Every `.fields` method of the run not known yet, 50 to a request."""
        self._fields_batch(self._fields_wanted())
        return True

    def _fields_wanted(self) -> List[str]:
        return [m for m in self.fields_methods if not self.is_cached(("fields", m))]

    def _fields_batch(self, methods: Sequence[str], extra: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """`.fields` methods (and `extra` commands) in one batch; each answer is remembered, a failure
        is left to the stream that needs that method (asked on its own, it raises the precise error)."""
        keys = {f"f{n}": method for n, method in enumerate(methods)}
        answer = self.run_commands({**(extra or {}), **keys})
        for key, method in keys.items():
            if key in answer["result"]:
                self.remember(("fields", method), descriptor_map(answer["result"][key]))
        return answer

    def pause_method(self, method: str) -> None:
        """A command of `method` hit the operating-time limit inside a batch: pause the method
        (until its reset time, or for a probe that grows with each block in a row)."""
        wait = self._operating_wait(method, blocked=True)
        self._check_limit_budget(method, wait)
        if self._pause(method, wait):
            logger.warning("%s is over the Bitrix24 operating-time limit; pausing it for %.0fs, until %s",
                           method, wait, wall_clock_in(wait))

    def _check_limit_budget(self, method: str, wait: float) -> None:
        """A method the portal keeps refusing (429) with no answer in between fails after
        max(max_retry_seconds, LIMIT_GIVE_UP) instead of probing for ever."""
        now = self._now()
        with self._lock:
            since = self._limited_since.setdefault(method, now)
        budget = max(self.max_retry_seconds, LIMIT_GIVE_UP)
        if now - since + wait > budget:
            raise RetryBudgetExceeded(
                f"Bitrix24 has refused {method} with OPERATION_TIME_LIMIT for {now - since:.0f}s (429, no"
                f" answer in between); giving up after {budget:g}s. The portal's operating-time window is"
                " 10 minutes: lower sources.bitrix24.operating_time_threshold, or run when the portal is less"
                " busy; the next run resumes from the saved incremental state."
            )

    def command_error(self, method: str, error: Any) -> CommandError:
        """A failed batch command's `result_error` entry, classified."""
        body = dict(error) if isinstance(error, Mapping) else {"error": "", "error_description": str(error)}
        return CommandError(method, str(body.get("error") or ""), str(body.get("error_description") or ""),
                            partial(self.error_for, method, 400, body))

    def portal_now(self) -> pendulum.DateTime:
        """The portal's clock now (from the last answer), in the portal's UTC offset."""
        with self._lock:
            clock = self._clock
        if clock is None:
            self.call("server.time")
            with self._lock:
                clock = self._clock
        if clock is None:  # the portal sends no timing at all: fall back to ours
            return pendulum.now("UTC")
        portal_ts, at, offset = clock
        sign = -1 if offset.startswith("-") else 1
        try:
            minutes = sign * (int(offset[1:3]) * 60 + int(offset[4:6]))
        except ValueError:
            minutes = 0
        tz = pendulum.FixedTimezone(minutes * 60)
        return pendulum.from_timestamp(portal_ts + (time.monotonic() - at), tz=tz)

    # ------------------------------------------------------------------ per-run cache

    def cached(self, key: Any, produce) -> Any:
        """Compute `produce()` once per client (i.e. once per run) for `key`, thread-safely."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._cache_locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            value = produce()
            with self._lock:
                self._cache[key] = value
            return value

    def is_cached(self, key: Any) -> bool:
        with self._lock:
            return key in self._cache

    def remember(self, key: Any, value: Any) -> None:
        with self._lock:
            self._cache.setdefault(key, value)
