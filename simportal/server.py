"""HTTP front end: routing, request parsing, limits, faults, auth, batch, envelope
(docs/bitrix24-api-notes.md#urls-and-authentication, #request-parsing, #answer-envelope, #batch, #limits, #errors)."""
from __future__ import annotations

import json
import re
import socket
import struct
import time
import traceback
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import urlsplit

from .errors import ApiError
from .methods import REGISTRY, Ctx, Result
from .oauth import TOKEN_ROUTE
from .util import ci_get, json_bytes, listify, parse_str, php_map, php_truthy

ROUTE = re.compile(r"^/rest/(\d+)/([A-Za-z0-9]+)/([A-Za-z0-9_.]+?)(\.json)?/?$")
OAUTH_ROUTE = re.compile(r"^/rest/([A-Za-z0-9_.]+?)(\.json)?/?$")
REF_RE = re.compile(r"\$(result|next|total|time|error)([^\s]*)", re.I)
SEG_RE = re.compile(r"\[([^\]]+)\]")
BATCH_MAX = 50
NOT_BATCHABLE = {"batch", "download", "upload"}

NGINX = ("<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n<center><h1>{code} {text}</h1></center>"
         "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
HTML200 = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Bitrix24</title></head>\n"
           "<body><h1>The portal is being updated</h1><p>Please try again in a few minutes.</p></body></html>\n")
PHP_WARNING = ("<br />\n<b>Warning</b>:  Undefined array key \"CATEGORY_ID\" in <b>/home/bitrix/www/bitrix/modules/"
               "crm/classes/general/restservice.php</b> on line <b>1342</b><br />\n")


class ReqLog(list):
    """Commands executed for one HTTP request + their simulated operating seconds."""
    op = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.costs = []   # (method, simulated seconds) of every executed command, in order


class Reply:
    def __init__(self, status: int, body: bytes, ctype="application/json; charset=utf-8", headers=None) -> None:
        self.status, self.body, self.ctype, self.headers = status, body, ctype, headers or {}


def _err(e: ApiError, opts) -> Reply:
    return Reply(e.status, json_bytes(e.body(), opts.php_escapes, opts.raw_unicode))


# ---------------------------------------------------------------- request parsing

def parse_request(h, body: bytes) -> dict:
    """Query + body merge (CRestUtil::getRequestData): JSON body keys replace query keys."""
    params = parse_str(urlsplit(h.path).query)
    if not body:
        return params
    ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            data = {}   # invalid JSON is silently "no parameters"
        if isinstance(data, list):
            data = {str(i): v for i, v in enumerate(data)}
        if not isinstance(data, dict):
            data = {}
        params.update(data)
        return params
    if ctype == "multipart/form-data":
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + h.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body)
        parts = []
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name is not None and part.get_filename() is None:
                payload = part.get_payload(decode=True) or b""
                parts.append(f"{_q(name)}={_q(payload.decode('utf-8', 'replace'))}")
        params.update(parse_str("&".join(parts)))
        return params
    params.update(parse_str(body.decode("utf-8", "replace")))
    return params


def _q(s: str) -> str:
    from urllib.parse import quote
    return quote(s, safe="[]")


def _inner_methods(params) -> set:
    cmd = ci_get(params, "cmd")
    out = set()
    if isinstance(cmd, (dict, list)):
        for c in (cmd.values() if isinstance(cmd, dict) else cmd):
            if isinstance(c, str):
                out.add(c.split("?", 1)[0].strip().lower())
    return out


# ---------------------------------------------------------------- batch references (docs/bitrix24-api-notes.md#result-reference-substitution)

def _resolve(s: str, acc: dict, embedded: bool = True) -> Any:
    """``embedded=False``: a portal that substitutes only a value that IS a reference (switch)."""
    for m in list(REF_RE.finditer(s)):
        if not embedded and m.group(0) != s:
            continue
        segs = SEG_RE.findall(m.group(2))
        if not segs:
            continue
        r = acc[m.group(1).lower()]
        for seg in segs:
            if isinstance(r, dict) and seg in r and r[seg] is not None:
                r = r[seg]
            elif isinstance(r, list) and seg.isdigit() and int(seg) < len(r) and r[int(seg)] is not None:
                r = r[int(seg)]
            else:
                break
        if m.group(0) == s:
            return r
        if isinstance(r, (str, int, float)) and not isinstance(r, bool):
            s = s.replace(m.group(0), str(r))
    return s


def substitute(v, acc, embedded: bool = True) -> Any:
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            nk = _resolve(k, acc, embedded) if isinstance(k, str) and "$" in k else k
            out[nk if isinstance(nk, (str, int)) else k] = substitute(x, acc, embedded)
        return out
    if isinstance(v, list):
        return [substitute(x, acc, embedded) for x in v]
    if isinstance(v, str) and "$" in v:
        return _resolve(v, acc, embedded)
    return v


# ---------------------------------------------------------------- execution

def time_block(portal: Any, t0: float, t1: float, processing: float, op: Optional[tuple] = None) -> dict:
    """The `time` object of an answer. `processing` (the simulated cost of the command) is part of the
    duration: it never exceeds `duration` (docs/bitrix24-api-notes.md#answer-envelope)."""
    c = portal.clock
    intish = portal.options.time_as_int
    duration = t1 - t0
    processing = min(int(processing) if intish else round(processing, 6), duration)
    d = {"start": int(t0) if intish else round(t0, 6), "finish": int(t1) if intish else round(t1, 6),
         "duration": duration, "processing": int(processing) if intish else processing,
         "date_start": c.fmt_dt(t0), "date_finish": c.fmt_dt(t1)}
    if op is None:
        d["operating"] = 0
    else:
        d["operating_reset_at"] = op[1]
        d["operating"] = round(op[0], 6)
    return d


def execute(portal, hook, name: str, params: dict, in_batch: bool, cmd_log: list, key=None) -> dict:
    """Run one API command. Returns a sub-response dict or raises ApiError."""
    opts = portal.options
    if in_batch and name in NOT_BATCHABLE:
        raise ApiError("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405)
    m = REGISTRY.get(name)
    if m is None:
        raise ApiError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
    if m.scopes is not None and not (m.scopes & hook.scopes):
        raise ApiError("insufficient_scope", "" if in_batch else
                       "The request requires higher privileges than provided by the webhook token",
                       portal.auth_status("insufficient_scope"))
    if m.controller and portal.world.user_kind.get(hook.user_id) == "extranet":
        raise ApiError("allowed_only_intranet_user", "Action is allowed only for intranet users", 403)
    t0 = portal.epoch()
    bsec = opts.operating_bucket_seconds
    opkey = (hook.code, name)
    if opts.operating_limit is not None:
        used, _ = portal.oplimit.state(opkey, t0, bsec)
        if used > opts.operating_limit:
            raise ApiError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)
    start = None
    for k in list(params):
        if str(k).lower() == "start":
            start = params.pop(k)
    fired = portal.faults.take_cmd(name, m.is_list) if len(portal.faults) else set()
    for fn in list(portal.hooks):
        fn(portal, name, params)
    ctx = Ctx(portal, hook, name, start, "short_page" in fired)
    res, err = None, None
    with portal.lock:
        try:
            if "command_error" in fired:
                raise ApiError("", "Failed to get list. General error.")
            res = m.fn(ctx, params)
        except ApiError as e:
            err = e
    if not isinstance(res, Result):
        res = Result(res)
    cost = float(opts.cost_model(name, rows=res.rows, heavy=res.heavy, counted_rows=res.counted,
                                 offset=res.offset))
    portal.stats.count_cmd(name, cost)
    t1 = portal.epoch()
    if opts.operating_limit is not None:
        portal.oplimit.record(opkey, cost, t1, bsec)
    if start is not None:
        params = {**params, "start": start}
    cmd_log.append((key, name, params, err is None))
    cmd_log.op += cost
    cmd_log.costs.append((name, cost))
    if err is not None:
        raise err
    sub = {"result": res.result}
    if res.next is not None:
        sub["next"] = res.next
    if res.total is not None:
        sub["total"] = res.total
    op = portal.oplimit.state(opkey, t1, bsec) if opts.operating_limit is not None else None
    sub["time"] = time_block(portal, t0, t1, cost, op if op else (0.0, int(t1 + 10 * bsec)))
    return sub


def run_batch(portal, hook, params, cmd_log) -> dict:
    cmd = ci_get(params, "cmd")
    halt = php_truthy(ci_get(params, "halt"))
    acc = {"result": {}, "next": {}, "total": {}, "time": {}, "error": {}}
    items = cmd.items() if isinstance(cmd, dict) else enumerate(cmd) if isinstance(cmd, list) else []
    n = 0
    for key, c in items:
        key = str(key)
        if not isinstance(c, str):
            continue   # non-string entries are skipped silently
        if n >= BATCH_MAX:
            acc["error"][key] = {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                 "error_description": "Max batch length exceeded"}
            continue
        n += 1
        path, _, qs = c.partition("?")
        name = path.strip().lower()
        if name.endswith(".json"):
            name = name[:-5]
        cparams = substitute(parse_str(qs), acc, portal.options.embedded_refs)
        if isinstance(cparams, dict):
            cparams = listify(cparams)
        if not isinstance(cparams, dict):
            cparams = {}
        try:
            sub = execute(portal, hook, name, cparams, True, cmd_log, key)
        except ApiError as e:
            if not any(k == key for k, *_ in cmd_log):
                cmd_log.append((key, name, cparams, False))
            acc["error"][key] = {"error": e.code, "error_description": e.description}
            if halt:
                break
            continue
        acc["result"][key] = sub["result"]
        if "next" in sub:
            acc["next"][key] = sub["next"]
        if "total" in sub:
            acc["total"][key] = sub["total"]
        acc["time"][key] = sub["time"]
    return {"result": php_map(acc["result"]), "result_error": php_map(acc["error"]),
            "result_total": php_map(acc["total"]), "result_next": php_map(acc["next"]),
            "result_time": php_map(acc["time"])}


def dispatch(portal, h, params, cmd_log) -> Reply:
    opts = portal.options
    hook, name = authenticate(portal, urlsplit(h.path).path, params)
    if opts.overload_block:
        st = opts.overload_block if isinstance(opts.overload_block, int) and opts.overload_block is not True \
            else (503 if opts.auth_error_status == 403 else 401)
        raise ApiError("OVERLOAD_LIMIT", "REST API is blocked due to overload.", st)
    if opts.no_subscription:
        raise ApiError("ACCESS_DENIED", "REST is available only by subscription.", portal.auth_status("ACCESS_DENIED"))
    if name == "batch" and opts.guard_5xx and _carries_guard(params):
        status = 500 if opts.guard_5xx is True else int(opts.guard_5xx)
        return Reply(status, NGINX.format(code=status, text="Internal Server Error").encode(), "text/html")
    t0 = portal.epoch()
    if name == "batch":
        portal.stats.count_cmd("batch", 0.0)
        res = run_batch(portal, hook, params, cmd_log)
        t1 = portal.epoch()
        body = {"result": res, "time": time_block(portal, t0, t1, t1 - t0)}
        return Reply(200, json_bytes(body, opts.php_escapes, opts.raw_unicode))
    sub = execute(portal, hook, name, params, False, cmd_log)
    return Reply(200, json_bytes(sub, opts.php_escapes, opts.raw_unicode))


def authenticate(portal, path: str, params: dict) -> tuple:
    """(hook, method) of a REST call: a webhook path `/rest/USER/CODE/METHOD`, or `/rest/METHOD` with an
    OAuth access token in `auth` (removed from the params, as Bitrix does) - docs/bitrix24-api-notes.md#urls-and-authentication, docs/bitrix24-api-notes.md#errors."""
    opts = portal.options
    m = ROUTE.match(path)
    om = None if m else OAUTH_ROUTE.match(path)
    if om is None and m is None:
        raise ApiError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
    if opts.portal_deleted:
        st = opts.portal_deleted if isinstance(opts.portal_deleted, int) and opts.portal_deleted is not True else 403
        raise ApiError("PORTAL_DELETED", "Portal was deleted", st)
    name = (m.group(3) if m else om.group(1)).lower()
    if name not in REGISTRY and name != "batch":
        raise ApiError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
    if opts.strict_https:
        raise ApiError("INVALID_REQUEST", "Https required.", portal.auth_status("INVALID_REQUEST"))
    if om is not None:
        token = next((params.pop(k) for k in list(params) if str(k).lower() == "auth"), None)
        if not token or not isinstance(token, str):
            raise ApiError("NO_AUTH_FOUND", "Wrong authorization data", 401)
        return portal.oauth.authenticate(token), name
    user_id, code = m.group(1), m.group(2)
    hook = portal.webhooks.get((int(user_id), code))
    if hook is None or not hook.active or (hook.expires_at is not None and portal.epoch() >= hook.expires_at):
        raise ApiError("INVALID_CREDENTIALS", "Invalid request credentials", portal.auth_status("INVALID_CREDENTIALS"))
    return hook, name


def token_reply(portal, h, body: bytes) -> Reply:
    """The OAuth server's token endpoint (oauth.py): query string and body parameters, JSON answers."""
    params = parse_request(h, body)
    try:
        answer = portal.oauth.token_endpoint(params)
    except ApiError as e:
        return Reply(e.status, json_bytes(e.body()))
    return Reply(200, json_bytes(answer))


def _carries_guard(params) -> bool:
    """A batch command with a zero-prefixed reference (`<ID=0$result[...]`), for `guard_5xx`."""
    cmd = ci_get(params, "cmd")
    commands = cmd.values() if isinstance(cmd, dict) else cmd if isinstance(cmd, list) else []
    return any(isinstance(c, str) and "=0$result[" in c for c in commands)


def fault_reply(kind: str, opts) -> Optional[Reply]:
    if kind == "503":
        return Reply(503, json_bytes({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}))
    if kind == "429":
        return Reply(429, json_bytes({"error": "OPERATION_TIME_LIMIT",
                                      "error_description": "Method is blocked due to operation time limit."}))
    if kind == "500":
        return Reply(500, json_bytes({"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}))
    if kind in ("502", "504"):
        text = "Bad Gateway" if kind == "502" else "Gateway Time-out"
        return Reply(int(kind), NGINX.format(code=kind, text=text).encode(), "text/html")
    if kind == "html200":
        return Reply(200, HTML200.encode(), "text/html; charset=utf-8")
    return None


def handle(portal, h) -> None:
    """Entry point for one HTTP request."""
    opts = portal.options
    length = int(h.headers.get("Content-Length") or 0)
    body = h.rfile.read(length) if length else b""
    path = urlsplit(h.path).path
    if portal.control_token and path.startswith("/_sim/"):
        from .control import handle_control
        return _send(h, handle_control(portal, h, path, body))
    if path.rstrip("/") == TOKEN_ROUTE:
        return _send(h, token_reply(portal, h, body))
    params = parse_request(h, body)
    m = ROUTE.match(path) or OAUTH_ROUTE.match(path)
    name = (m.group(3) if m and m.re is ROUTE else m.group(1) if m else "").lower()
    inner = _inner_methods(params) if name == "batch" else set()
    portal.stats.count_http(name, inner)
    cmd_log = ReqLog()
    ts = portal.epoch()

    def send(rep: Reply) -> None:
        portal.record(ts, rep.status, name, cmd_log, cmd_log.op)
        _send(h, rep)

    if opts.moved_to:
        loc = f"http://{opts.moved_to}{h.path}" if "://" not in opts.moved_to else f"{opts.moved_to}{h.path}"
        return send(Reply(302, b"", "text/html", {"Location": loc}))
    if opts.rate_limit and not portal.rate.hit(h.client_address[0], time.monotonic(), *opts.rate_limit):
        return send(Reply(503, json_bytes({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"})))
    fault = portal.faults.take_http({name} | inner) if len(portal.faults) else None
    kind = fault.kind if fault else None
    if kind == "reset":
        portal.record(ts, 0, name, cmd_log, cmd_log.op)
        return _reset(h)
    if kind == "slow":
        time.sleep(opts.slow_seconds)
    rep = fault_reply(kind, opts) if kind else None
    if rep is not None:
        return send(rep)
    portal.stats.enter()
    began = time.monotonic()
    try:
        rep = dispatch(portal, h, params, cmd_log)
    except ApiError as e:
        rep = _err(e, opts)
    except Exception:   # a simulator bug: answer like the real server would, and make it visible
        traceback.print_exc()
        rep = _err(ApiError("INTERNAL_SERVER_ERROR", "Internal server error", 500), opts)
    finally:
        if opts.cost_sleep_scale:
            # the request takes the server time of its commands (cost x scale) in all, the simulator's
            # own work (running the commands, encoding the answer) included
            time.sleep(max(0.0, cmd_log.op * opts.cost_sleep_scale - (time.monotonic() - began)))
        portal.stats.leave()
    if kind == "truncated_json":
        rep.body = rep.body[:max(1, len(rep.body) // 2)]
    elif kind == "invalid_json":
        rep.body = PHP_WARNING.encode() + rep.body
    send(rep)


def _send(h, rep: Reply) -> None:
    h.send_response(rep.status)
    h.send_header("Content-Type", rep.ctype)
    h.send_header("Content-Length", str(len(rep.body)))
    if rep.ctype.startswith("application/json"):
        h.send_header("Access-Control-Allow-Origin", "*")
        h.send_header("X-Content-Type-Options", "nosniff")
    for k, v in rep.headers.items():
        h.send_header(k, v)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(rep.body)


def _reset(h) -> None:
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
    except OSError:
        pass
    h.close_connection = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    # TCP_NODELAY like nginx: headers and body go out in two writes, and with Nagle on, the body
    # waits for the client's delayed ACK of the headers (~40 ms per request on loopback).
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        try:
            handle(self.server.portal, self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_POST = do_GET
    do_HEAD = do_GET

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, portal) -> None:
        self.portal = portal
        super().__init__(addr, Handler)
