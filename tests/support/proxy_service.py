"""Test double of the external proxy service (api/proxy-service.openapi.yaml).

Integration tests spawn it to PLAY the service that hands out proxies:

    .venv/bin/python tests/support/proxy_service.py --port PORT \
        --spec api/proxy-service.openapi.yaml --log LOGFILE [--token T] [--api-key K]

It binds 127.0.0.1:PORT (0 picks a free port) and prints `listening 127.0.0.1:<port>`.
Every request under /api/v1/ is validated against the spec with openapi-core and
logged to LOGFILE as one JSON line:
  {"path", "method", "body": <json or null>, "auth": "bearer"|"api_key"|"none",
   "authorized": bool, "valid": bool, "errors": [str], "t": <unix seconds>}
plus "dropped": true when the `down` mode dropped it. Secrets are never logged.
Security errors from the spec count only when --token or --api-key is given.

POST /_control with a JSON object replaces the behaviour mode (keys: proxy_url,
ttl_seconds (sent verbatim), fallback_policy, strategy, routes {"<exchange>/<type>":
url}, status, garbage, huge_body_mb, delay_ms, feedback_delay_ms, health_status,
down, omit: [keys left out of the answer]). GET /_requests returns the log lines as a JSON array. Neither is logged.
"""

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import SecurityValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

MAX_BODY = 1 << 20


class Raw(str):  # a JSON number (or NaN/Infinity) kept as its source text
    pass


class SpecRequest:
    """openapi_core.protocols.Request over one received HTTP request."""

    def __init__(self, handler, path, query, body):
        self.host_url = "http://%s:%d" % handler.server.server_address[:2]
        self.path = path
        self.method = handler.command.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
            header=Headers(list(handler.headers.items())))
        self.content_type = (handler.headers.get("Content-Type") or "").lower()
        self.body = body if body else None


def describe(exc):
    cause = exc.__cause__
    if cause is not None and getattr(cause, "schema_errors", None):
        return ["%s: %s" % ("/" + "/".join(map(str, e.absolute_path)), e.message)
                for e in cause.schema_errors]
    return [str(exc) or type(exc).__name__]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def route(self):
        srv = self.server
        path, _, query = self.path.partition("?")
        path = urlsplit(path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            if path.startswith("/api/v1/"):
                auth, authorized = self.check_auth()
                srv.log_line({"path": path, "method": self.command, "body": None,
                              "auth": auth, "authorized": authorized, "valid": False,
                              "errors": ["body of %d bytes exceeds 1 MiB" % length]})
            return self.reply(413, {"error": "body too large"})
        body = self.rfile.read(length) if length > 0 else b""
        if path == "/_control" and self.command == "POST":
            try:
                mode = json.loads(body)
                raw = json.loads(body, parse_int=Raw, parse_float=Raw, parse_constant=Raw)
                ttl = raw.get("ttl_seconds", Raw("60"))
                mode["_ttl_text"] = ttl if isinstance(ttl, Raw) else json.dumps(ttl)
            except (ValueError, AttributeError) as e:
                return self.reply(400, {"error": "control body must be a JSON object: %s" % e})
            srv.mode = mode
            return self.reply(200, {"ok": True})
        if path == "/_requests" and self.command == "GET":
            return self.reply(200, srv.read_log())
        if not path.startswith("/api/v1/"):
            return self.reply(404, {"error": "not found"})
        mode = srv.mode
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        with srv.validate_lock:
            errs = list(srv.openapi.iter_request_errors(SpecRequest(self, path, query, body)))
        if not srv.auth_required:
            errs = [e for e in errs if not isinstance(e, SecurityValidationError)]
        auth, authorized = self.check_auth()
        authorized = authorized or path == "/api/v1/health"
        line = {"path": path, "method": self.command, "body": parsed, "auth": auth,
                "authorized": authorized, "valid": not errs,
                "errors": [m for e in errs for m in describe(e)]}
        if mode.get("down"):
            line["dropped"] = True
        srv.log_line(line)
        if mode.get("down"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if path == "/api/v1/health":
            status = int(mode.get("health_status", 200))
            return self.reply(status, {"status": "ok" if status == 200 else "unavailable"})
        if not authorized:
            return self.reply(401, {"error": "unauthorized"})
        if path == "/api/v1/proxy/request" and self.command == "POST":
            return self.answer_proxy(mode, parsed if isinstance(parsed, dict) else {})
        if path == "/api/v1/proxy/feedback" and self.command == "POST":
            time.sleep(float(mode.get("feedback_delay_ms") or 0) / 1000)
            return self.reply(202, {})
        return self.reply(404, {"error": "not found"})

    def check_auth(self):
        """(scheme presented or accepted, whether the request is authorized)."""
        srv, h = self.server, self.headers
        bearer = h.get("Authorization", "")
        has_bearer = bearer[:7].lower() == "bearer "
        key = h.get("X-API-Key")
        if srv.token is not None and has_bearer and bearer[7:] == srv.token:
            return "bearer", True
        if srv.api_key is not None and key is not None and key == srv.api_key:
            return "api_key", True
        scheme = "bearer" if has_bearer else "api_key" if key is not None else "none"
        return scheme, not srv.auth_required

    def answer_proxy(self, mode, req):
        time.sleep(float(mode.get("delay_ms") or 0) / 1000)
        if mode.get("status"):
            return self.reply(int(mode["status"]), {"error": "injected"})
        if mode.get("garbage"):
            return self.reply(200, b"this is not json{")
        pair = "%s/%s" % (req.get("exchange_id"), req.get("connection_type"))
        routes = mode.get("routes") or {}
        answer = {
            "proxy_url": routes[pair] if pair in routes else mode.get("proxy_url"),
            "strategy": mode.get("strategy", "round_robin"),
            "ttl_seconds": "\x00TTL\x00",
            "fallback_policy": mode.get("fallback_policy", "embedded_fallback"),
            "metadata": {},
        }
        for key in mode.get("omit") or []:
            answer.pop(key, None)
        if mode.get("huge_body_mb"):
            answer["metadata"]["padding"] = "x" * int(float(mode["huge_body_mb"]) * (1 << 20))
        text = json.dumps(answer).replace('"\\u0000TTL\\u0000"', mode.get("_ttl_text", "60"))
        return self.reply(200, text.encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", args.port), Handler)
        self.openapi = OpenAPI.from_file_path(args.spec)
        self.validate_lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.log_path = args.log
        self.token, self.api_key = args.token, args.api_key
        self.auth_required = args.token is not None or args.api_key is not None
        self.mode = {}
        open(self.log_path, "a").close()

    def log_line(self, line):
        line["t"] = time.time()
        with self.log_lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()

    def read_log(self):
        with self.log_lock, open(self.log_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    for name, required in [("--spec", True), ("--log", True), ("--token", False), ("--api-key", False)]:
        p.add_argument(name, required=required)
    server = Server(p.parse_args())
    print("listening 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
