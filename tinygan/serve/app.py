"""The HTTP side of `tinygan serve`: the standard library's threading HTTP server, the page's
three files, and the JSON, PNG and zip answers of faces.py.

    GET /                                    the page (static/index.html, page.js, page.css)
    GET /api/models                          the models on offer: tags, names, sizes
    GET /api/grid?model=TAG&seed=S&n=N[&sharpest=1]     faces, each {"id", "png" data URL}
    GET /api/like?id=ID&n=N&page=P&spread=HUNDREDTHS    variations of a face
    GET /api/blend?a=ID&b=ID&steps=K                    a, K blends, b
    GET /api/face?id=ID&size=PX              one face as a PNG download named ID.png
    GET /api/zip?ids=ID,ID,...&size=PX       those faces as ID.png files in one zip

Anything else is refused with a JSON body {"error": "one line"}: a bad parameter, a bad id or
an unknown model 400, an unknown address 404, a method other than GET 405, a fault of the
server's own 500; the server goes on serving. The page's files are read once at start, from
the package: nothing a request sends is used as a path. On the loopback address, a request
must name the server as its Host (a web page elsewhere cannot reach it by renaming its own
address to 127.0.0.1).
"""

import json
import os
import signal
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .faces import BadRequest

STATIC = os.path.join(os.path.dirname(__file__), "static")
PAGES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/page.js": ("page.js", "text/javascript; charset=utf-8"),
         "/page.css": ("page.css", "text/css; charset=utf-8")}
MAX_URL = 16384       # longer requests are refused (a zip of 64 ids of the longest kind fits)
MAX_PARAMETERS = 8
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# the page may load its own files and the data: URLs of faces, nothing from elsewhere
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def make_server(faces, host="127.0.0.1", port=0):
    """A threading HTTP server for `faces` (faces.Faces), listening (port 0: any free port);
    an OSError if the address cannot be had."""
    files = {path: (read(name), kind) for path, (name, kind) in PAGES.items()}
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family,
                                                           "daemon_threads": True})
    handler = type("Handler", (Handler,), {"faces": faces, "files": files})
    server = server_class((host, port), handler)
    handler.hosts = allowed_hosts(host, server.server_address[1])
    return server


def read(name):
    with open(os.path.join(STATIC, name), "rb") as f:
        return f.read()


def allowed_hosts(host, port):
    """The Host headers a request may carry: any on a public address, else the loopback's."""
    if host not in LOOPBACK:
        return None
    return {f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]")}


def address(server):
    host, port = server.server_address[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    faces = files = hosts = None   # set by make_server
    timeout = 30                   # a client that stops sending is dropped
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "tinygan"

    def do_GET(self):
        self.started = time.perf_counter()
        try:
            self.route()
        except BadRequest as exc:
            self.send_json(400, {"error": str(exc)})
        except ConnectionError:   # the client went away: nobody to answer
            self.close_connection = True
        except Exception as exc:  # a fault of the server's own: said in one line, then on
            self.send_json(500, {"error": f"the server failed: {type(exc).__name__}: {exc}"})

    def route(self):
        if len(self.path) > MAX_URL:
            raise BadRequest(f"the request is longer than {MAX_URL} characters")
        if self.hosts is not None and self.headers.get("Host") not in self.hosts:
            raise BadRequest("this server answers requests to its own address only")
        if self.headers.get("Content-Length", "0") != "0":
            raise BadRequest("a GET request has no body")
        url = urlsplit(self.path)
        if url.path in self.files:
            return self.send(200, *self.files[url.path], {"Content-Security-Policy": POLICY})
        answer = getattr(self, "api_" + url.path.removeprefix("/api/"), None) \
            if url.path.startswith("/api/") and url.path[5:].isalpha() else None
        if answer is None:
            return self.send_json(404, {"error": f"nothing at {url.path[:60]}"})
        answer(query(url.query))

    # -- the API ------------------------------------------------------------------------------
    def api_models(self, q):
        if q:
            raise BadRequest("this request takes no parameters")
        self.send_json(200, self.faces.listing())

    def api_grid(self, q):
        self.send_json(200, *self.faces.grid(q))

    def api_like(self, q):
        self.send_json(200, *self.faces.like(q))

    def api_blend(self, q):
        self.send_json(200, *self.faces.blend(q))

    def api_face(self, q):
        self.send_download(*self.faces.png(q), "image/png")

    def api_zip(self, q):
        self.send_download(*self.faces.zip(q), "application/zip")

    # -- answers ------------------------------------------------------------------------------
    def send(self, code, body, kind, headers=None):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def timing(self, ms):
        """Server-Timing: the milliseconds spent drawing, and in all since the request came
        (scripts/benchmarks/bench_serve.py reads them)."""
        total = 1000 * (time.perf_counter() - self.started)
        return {"Server-Timing": f"draw;dur={ms:.1f}, total;dur={total:.1f}"}

    def send_json(self, code, answer, ms=None):
        timing = self.timing(ms) if ms is not None else {}
        if code >= 400:
            self.close_connection = True
        self.send(code, json.dumps(answer).encode(), "application/json", timing)

    def send_download(self, name, body, ms, kind):
        self.send(200, body, kind, {"Content-Disposition": f'attachment; filename="{name}"',
                                    **self.timing(ms)})

    def send_error(self, code, message=None, explain=None):
        """The standard library's own refusals (a malformed request line, too long a line,
        too many headers) as one-line JSON too."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def refuse_method(self):
        self.send_json(405, {"error": f"{self.command} is not served here: only GET"})

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = refuse_method

    def log_message(self, format, *args):   # the terminal stays quiet
        pass


def query(text):
    """The query string as {name: value}; BadRequest for repeated or malformed parameters."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
                          max_num_fields=MAX_PARAMETERS)
    except ValueError:
        raise BadRequest("a malformed query (at most 8 parameters, name=value&...)") from None
    q = dict(pairs)
    if len(q) != len(pairs):
        raise BadRequest("a parameter is given twice")
    return q


def serve_forever(server, say):
    """Serve until Ctrl-C (or a SIGTERM), then close the socket; `say` reports."""
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    say(f"stopped after {time.monotonic() - started:.0f} s")


def _interrupt(signum, frame):
    raise KeyboardInterrupt
