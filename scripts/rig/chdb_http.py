"""A small HTTP front end over chDB (PyPI chdb-core: the current ClickHouse engine as a library),
speaking the part of ClickHouse's HTTP interface that ferry and its tests use. Test rig only.

What it does, as clickhouse-server's HTTP handler does:
- GET/POST / with the query in `query=` and/or the body: with `query=` set, the body is the rest
  of the query (an INSERT's rows); without it, the body is the query. `Content-Encoding: gzip`
  bodies are decompressed; chunked request bodies are read.
- Every URL parameter that is not an HTTP-interface parameter is a setting for that query only
  (applied with SET before it and reset with SET … = DEFAULT after it); an unknown one answers
  code 115 UNKNOWN_SETTING as the server does. `database=` is the query's current database.
- The answer's format: the query's FORMAT clause, else `default_format=`, else TabSeparated.
- Headers the client reads: X-ClickHouse-Query-Id, -Format, -Timezone, -Summary,
  -Server-Display-Name, Keep-Alive: timeout=3; on error X-ClickHouse-Exception-Code, a status
  from the code as the server's exceptionCodeToHTTPStatus maps it, and the body
  `Code: N. DB::Exception: … (NAME) (version V)`.
- One user (`default`) with the password given by --password (Basic auth, X-ClickHouse-User/Key
  or user=/password= parameters); anything else is code 516 AUTHENTICATION_FAILED, 403.
- GET /ping answers `Ok.`.

What it does not do (see docs/clickhouse.md): the native TCP protocol, users/roles/grants/quotas,
server-level settings and config files, sessions (session_id is ignored), query parameters
(param_*), response compression, progress headers, cancelling a running query. Queries run one at
a time (chDB's session is not shared between threads).
"""

import argparse
import base64
import gzip
import json
import os
import re
import sys
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from chdb import session as chdb_session

# URL parameters of the HTTP interface itself, not settings.
HTTP_PARAMS = {
    "query", "query_id", "database", "default_format", "user", "password", "quota_key",
    "session_id", "session_timeout", "session_check", "compress", "decompress", "buffer_size",
    "wait_end_of_query", "role", "stacktrace", "http_response_buffer_size",
}
FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.I)
CODE_RE = re.compile(r"^Code: (\d+)\.")
CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
}

# exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp), by error name.
STATUS_BY_NAME = {
    "REQUIRED_PASSWORD": 401,
    **{n: 403 for n in ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED",
                        "SET_NON_GRANTED_ROLE", "ACCESS_DENIED")},
    **{n: 400 for n in (
        "BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT",
        "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING", "CANNOT_PARSE_DATE",
        "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER", "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
        "CANNOT_PARSE_IPV4", "CANNOT_PARSE_IPV6", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
        "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN", "UNKNOWN_ELEMENT_IN_AST",
        "UNKNOWN_TYPE_OF_AST_NODE", "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST",
        "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA", "TYPE_MISMATCH",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE")},
    **{n: 404 for n in (
        "UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER", "UNKNOWN_TYPE",
        "UNKNOWN_STORAGE", "UNKNOWN_DATABASE", "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING",
        "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT", "UNKNOWN_DATABASE_ENGINE",
        "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE")},
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}


class Engine:
    """The chDB session and what the handler needs from it; one query at a time."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.sess = chdb_session.Session(path)
        self.version = self.sess.query("SELECT version()", "TabSeparated").bytes().decode().strip()
        names = self.sess.query(
            "SELECT number, errorCodeToName(toInt32(number)) FROM numbers(1100)", "TabSeparated"
        ).bytes().decode()
        self.names = {}
        for line in names.splitlines():
            n, name = line.split("\t")
            if name:
                self.names[int(n)] = name

    def code(self, name):
        for n, nm in self.names.items():
            if nm == name:
                return n
        return 1001

    def run(self, query, fmt, settings, database):
        """(bytes, rows_read, rows_written, bytes_read, bytes_written); raises ChdbError-like."""
        with self.lock:
            applied = []
            try:
                if database:
                    self.sess.query(f"USE `{database}`")
                for k, v in settings:
                    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
                        raise QueryError(self.code("UNKNOWN_SETTING"),
                                         f"Unknown setting '{k}'.", "UNKNOWN_SETTING")
                    self.sess.query(f"SET `{k}` = {quote(v)}")
                    applied.append(k)
                r = self.sess.query(query, fmt)
                return (r.bytes(), r.rows_read(), r.rows_written(), r.bytes_read(), r.bytes_written())
            finally:
                for k in applied:
                    try:
                        self.sess.query(f"SET `{k}` = DEFAULT")
                    except Exception:  # noqa: BLE001 - best effort reset
                        pass
                if database:
                    try:
                        self.sess.query("USE default")
                    except Exception:  # noqa: BLE001
                        pass


class QueryError(Exception):
    def __init__(self, code, message, name):
        super().__init__(message)
        self.code = code
        self.message = message
        self.name = name


def quote(v):
    if re.fullmatch(r"-?\d+(\.\d+)?", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ClickHouse"
    engine: Engine
    password = ""

    def log_message(self, fmt, *args):  # requests are not logged (the server's log is quiet too)
        pass

    def do_GET(self):
        self.handle_query(b"")

    def do_POST(self):
        try:
            body = self.read_body()
        except QueryError as e:
            return self.fail(e)
        self.handle_query(body)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(parts)
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        enc = (self.headers.get("Content-Encoding") or "").lower()
        try:
            if enc == "gzip":
                body = gzip.decompress(body)
            elif enc == "deflate":
                body = zlib.decompress(body)
            elif enc not in ("", "identity"):
                raise QueryError(self.engine.code("UNKNOWN_COMPRESSION_METHOD"),
                                 f"Unknown compression method '{enc}' (not in this front end)",
                                 "UNKNOWN_COMPRESSION_METHOD")
        except (OSError, EOFError, zlib.error) as e:
            # What the server answers for a corrupt gzip/deflate body (its zlib read buffer).
            raise QueryError(354, f"inflate failed: {e}", "ZLIB_INFLATE_FAILED")
        return body

    def credentials(self, params):
        user, password = "default", ""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        if self.headers.get("X-ClickHouse-User"):
            user = self.headers["X-ClickHouse-User"]
            password = self.headers.get("X-ClickHouse-Key", "")
        if "user" in params:
            user = params["user"]
            password = params.get("password", "")
        return user, password

    def handle_query(self, body):
        url = urlsplit(self.path)
        if url.path in ("/ping",) and self.command == "GET":
            return self.reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        if url.path not in ("/", ""):
            return self.reply(404, b"There is no handle " + url.path.encode() + b"\n", {})
        pairs = parse_qsl(url.query, keep_blank_values=True)
        params = dict(pairs)
        if "query" not in params and not body:
            return self.reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        user, password = self.credentials(params)
        if user != "default" or password != self.password:
            return self.fail(QueryError(
                self.engine.code("AUTHENTICATION_FAILED"),
                f"{user}: Authentication failed: password is incorrect, or there is no user with such name.",
                "AUTHENTICATION_FAILED"))
        if any(k.startswith("param_") for k in params):
            return self.fail(QueryError(self.engine.code("NOT_IMPLEMENTED"),
                                        "query parameters (param_*) are not in this front end",
                                        "NOT_IMPLEMENTED"))
        query = params.get("query", "").encode()
        if query and body:
            query = query + b"\n" + body
        elif not query:
            query = body
        head = query[:4096].decode("utf-8", "replace")
        # The FORMAT of an INSERT names its input; of anything else, its output.
        m = None if re.match(r"\s*INSERT\b", head, re.I) else FORMAT_RE.search(head.strip())
        fmt = m.group(1) if m else params.get("default_format", "TabSeparated")
        settings = [(k, v) for k, v in pairs if k not in HTTP_PARAMS and not k.startswith("param_")]
        qid = params.get("query_id") or str(uuid.uuid4())
        t0 = time.time()
        try:
            out, rr, rw, br, bw = self.engine.run(query, fmt, settings, params.get("database"))
        except QueryError as e:
            return self.fail(e, qid)
        except Exception as e:  # noqa: BLE001 - chDB raises its own error type with the server's text
            text = str(e)
            cm = CODE_RE.match(text)
            code = int(cm.group(1)) if cm else 1001
            name = self.engine.names.get(code, "STD_EXCEPTION")
            return self.fail(QueryError(code, text, name), qid, raw=True)
        summary = {
            "read_rows": str(rr), "read_bytes": str(br), "written_rows": str(rw),
            "written_bytes": str(bw), "total_rows_to_read": str(rr), "result_rows": "0",
            "result_bytes": "0", "elapsed_ns": str(int((time.time() - t0) * 1e9)),
        }
        self.reply(200, out, {
            "Content-Type": CONTENT_TYPES.get(fmt, "text/plain; charset=UTF-8"),
            "X-ClickHouse-Query-Id": qid,
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
        })

    def fail(self, e, qid=None, raw=False):
        text = e.message if raw else f"Code: {e.code}. DB::Exception: {e.message} ({e.name})"
        text = f"{text.rstrip()} (version {self.engine.version})\n"
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(e.code),
        }
        if qid:
            headers["X-ClickHouse-Query-Id"] = qid
        self.reply(STATUS_BY_NAME.get(e.name, 500), text.encode(), headers)

    def reply(self, status, body, headers):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb-front-end")
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("Keep-Alive", "timeout=3")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--password", default="")
    a = ap.parse_args()
    os.environ["TZ"] = "UTC"
    time.tzset()
    Handler.engine = Engine(a.data)
    Handler.password = a.password
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print(f"chdb front end {Handler.engine.version} on 127.0.0.1:{a.port}, data {a.data}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
