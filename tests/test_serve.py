"""tinygan serve's HTTP interface, against a real server on a free port: the page and its
files, faces with their ids, variations, blends, downloads equal to what sample --id draws,
every kind of bad request refused in one line of JSON while the server goes on serving, two
clients at once, and the command itself (its address, its warning, Ctrl-C)."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pytest
from conftest import invoke
from PIL import Image

from tinygan.data.images import scale_up
from tinygan.draw import ids
from tinygan.draw.avatars import draw, load_model
from tinygan.draw.generate import shipped_model
from tinygan.serve.app import address, make_server
from tinygan.serve.faces import Faces


@pytest.fixture(scope="module")
def served():
    """(base address, Faces) of a server of both shipped models, serving on a thread."""
    faces = Faces([load_model(shipped_model("anime")), load_model(shipped_model("human"))])
    server = make_server(faces, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield address(server), faces
    server.shutdown()
    server.server_close()


def get(url):
    """(status, headers, body) of a GET; refusals too."""
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, refused.read()


def api(served, path):
    status, headers, body = get(served[0] + path)
    assert status == 200, body
    return json.loads(body)


def png(data_url):
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    import base64
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix):]))))


def test_the_page_and_its_files_come_from_the_server_alone(served):
    status, headers, body = get(served[0])
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    page = body.decode()
    for name in ("page.js", "page.css"):
        assert f'"{name}"' in page and get(served[0] + name)[0] == 200
    for text in (page, get(served[0] + "page.js")[2].decode(),
                 get(served[0] + "page.css")[2].decode()):
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_a_grid_holds_the_faces_its_ids_name(served):
    tags = [m["tag"] for m in api(served, "api/models")["models"]]
    assert tags == list(served[1].models) and tags[0].startswith("anime-")
    answer = api(served, f"api/grid?model={tags[0]}&seed=11&n=16")
    assert [f["id"] for f in answer["faces"]] == [f"{tags[0]}-11-{i}" for i in range(16)]
    model = served[1].models[tags[0]]
    expected = draw(model, [ids.parse(f["id"]) for f in answer["faces"]])
    np.testing.assert_array_equal(np.stack([png(f["png"]) for f in answer["faces"]]), expected)
    sharp = api(served, f"api/grid?model={tags[1]}&seed=11&n=4&sharpest=1")["faces"]
    assert len(sharp) == 4 and all(f["id"].startswith(tags[1]) for f in sharp)
    assert any(int(f["id"].rsplit("-", 1)[1]) >= 4 for f in sharp)   # picked from 16


def test_variations_and_blends_have_their_own_ids(served):
    tag = next(iter(served[1].models))
    base = f"{tag}-2-3"
    like = api(served, f"api/like?id={base}&n=4&page=2&spread=35")["faces"]
    assert [f["id"] for f in like] == [f"{base}.v{k}s35" for k in range(8, 12)]
    blend = api(served, f"api/blend?a={base}&b={tag}-4-1&steps=3")["faces"]
    assert [f["id"] for f in blend] == [base, f"{base}.4-1.m25", f"{base}.4-1.m50",
                                        f"{base}.4-1.m75", f"{tag}-4-1"]


def test_a_download_is_the_face_sample_id_draws(served, tmp_path):
    face_id = f"{next(iter(served[1].models))}-9-5.v2s40"
    status, headers, body = get(served[0] + f"api/face?id={face_id}&size=256")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == f'attachment; filename="{face_id}.png"'
    assert headers["Server-Timing"].startswith("draw;dur=")
    r = invoke("sample", "--id", face_id, "--scale", 4, "--separate", tmp_path, "--out",
               tmp_path / "grid.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    downloaded = np.asarray(Image.open(io.BytesIO(body)))
    assert downloaded.shape == (256, 256, 3)
    np.testing.assert_array_equal(downloaded, np.asarray(Image.open(tmp_path / f"{face_id}.png")))


def test_a_zip_holds_every_kept_face_by_id(served):
    anime, human = list(served[1].models)
    names = [f"{anime}-1-1", f"{human}-1-1", f"{anime}-2-1.v0s40"]
    status, headers, body = get(served[0] + f"api/zip?ids={','.join(names)}&size=128")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == [f"{names[0]}.png", f"{names[2]}.png", f"{names[1]}.png"]
        face = np.asarray(Image.open(io.BytesIO(archive.read(f"{names[1]}.png"))))
    model = served[1].models[human]
    np.testing.assert_array_equal(face, scale_up(draw(model, [ids.parse(names[1])])[0], 2))


LONG = "anime-a296-1-1" + ".v0s1" * 15
BAD = [  # (request, HTTP status, what the error says)
    ("api/grid?model={anime}&seed=1&n=65", 400, "n is a whole number from 1 to 64"),
    ("api/grid?model={anime}&seed=-1&n=4", 400, "seed is a whole number"),
    ("api/grid?model={anime}&seed=1e3&n=4", 400, "seed is a whole number"),
    ("api/grid?model=cat-0000&seed=1&n=4", 400, "no model 'cat-0000' here"),
    ("api/grid?model={anime}&seed=1", 400, "needs n=..."),
    ("api/grid?model={anime}&seed=1&n=4&sharpest=yes", 400, "sharpest is 0 or 1"),
    ("api/grid?model={anime}&seed=1&n=4&path=/etc/passwd", 400, "unknown parameter 'path'"),
    ("api/grid?model={anime}&seed=1&seed=2&n=4", 400, "given twice"),
    ("api/grid?" + "&".join(f"p{i}=1" for i in range(9)), 400, "malformed query"),
    ("api/grid?model={anime}&&seed", 400, "malformed query"),
    ("api/like?id=anime-zzzz-1-1&n=4&page=0&spread=40", 400, "not a face id"),
    ("api/like?id={human}-1-1&n=4&page=0&spread=0", 400, "spread is a whole number"),
    ("api/like?id=human-0000-1-1&n=4&page=0&spread=40", 400, "no model 'human-0000' here"),
    ("api/like?id={anime}-1-1.m5&n=4&page=0&spread=40", 400, "fewer come before it"),
    ("api/like?id={anime}-1-1&n=64&page=1024&spread=40", 400, "page is a whole number"),
    (f"api/like?id={LONG}&n=1&page=0&spread=40", 400, "start from a plainer face"),
    ("api/blend?a={anime}-1-1&b={human}-1-1&steps=3", 400, "different models"),
    ("api/blend?a={anime}-1-1&b={anime}-1-2&steps=16", 400, "steps is a whole number"),
    ("api/face?id={anime}-1-1&size=100", 400, "download at 64, 128, 256 px"),
    ("api/face?id={anime}-1-65535t10n65536&size=64", 400, "take too long to draw here"),
    ("api/zip?ids={anime}-1-65535,{anime}-2-65535,{anime}-3-65535&size=64", 400,
     "take too long to draw here"),
    ("api/face?id=../../etc/passwd&size=64", 400, "not a face id"),
    ("api/zip?ids=" + ",".join(["{anime}-1-1"] * 65) + "&size=64", 400, "at most 64 faces"),
    ("api/zip?ids={anime}-1-1,,&size=64", 400, "not a face id"),
    ("api/models?x=1", 400, "takes no parameters"),
    ("api/grid?model=" + "a" * 17000, 400, "longer than 16384"),
    ("api/nothing", 404, "nothing at /api/nothing"),
    ("../../../etc/passwd", 404, "nothing at"),
    ("static/page.js", 404, "nothing at"),
]


@pytest.mark.parametrize("request_,status,says", BAD, ids=[b[2] for b in BAD])
def test_a_bad_request_is_refused_in_one_line_and_the_server_goes_on(served, request_, status,
                                                                     says):
    anime, human = list(served[1].models)
    got, headers, body = get(served[0] + request_.format(anime=anime, human=human))
    assert got == status and headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert says in error and "\n" not in error, error
    assert len(api(served, f"api/grid?model={anime}&seed=1&n=2")["faces"]) == 2


def test_a_fault_of_the_servers_own_is_one_line_too(served, monkeypatch):
    def broken(q):
        raise RuntimeError("out of order")
    monkeypatch.setattr(served[1], "grid", broken)
    status, _, body = get(served[0] + "api/grid?seed=1")
    assert status == 500
    assert json.loads(body)["error"] == "the server failed: RuntimeError: out of order"
    monkeypatch.undo()
    assert api(served, "api/models")["models"]


def raw(served, data):
    """What the server answers to raw bytes."""
    host, port = served[0][len("http://"):-1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer.decode("latin-1")


@pytest.mark.parametrize("data,status,says", [
    (b"GET /a b HTTP/1.1\r\n\r\n", "400", "Bad request syntax"),
    (b"POST /api/models HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n{}", "405",
     "POST is not served here"),
    (b"GET /api/models HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nConnection: close"
     b"\r\n\r\nhello", "400", "has no body"),
    (b"GET /api/models HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n", "400",
     "its own address only"),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", "414", "URI Too Long")])
def test_a_malformed_request_gets_json_too(served, data, status, says):
    answer = raw(served, data.replace(b"{host}", served[0][7:-1].encode()))
    assert answer.split()[1] == status, answer[:200]
    assert says in json.loads(answer.split("\r\n\r\n", 1)[1])["error"]
    assert api(served, "api/models")["models"]


def test_two_clients_at_once_get_their_own_faces(served):
    tag = next(iter(served[1].models))
    alone = {seed: api(served, f"api/grid?model={tag}&seed={seed}&n=8") for seed in range(4)}
    together = {}

    def ask(seed):
        together[seed] = api(served, f"api/grid?model={tag}&seed={seed}&n=8")
    threads = [threading.Thread(target=ask, args=(seed,)) for seed in range(4) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for seed in range(4):
        assert [f["png"] for f in together[seed]["faces"]] == \
            [f["png"] for f in alone[seed]["faces"]]


def ctrl_c_as_in_a_terminal():
    """SIGINT as a terminal's foreground process has it, even where the tests run in the
    background (a shell without job control starts background commands ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def serve_command(*args):
    """`tinygan serve ARGS` started as a user starts it, and the first line it prints."""
    process = subprocess.Popen([sys.executable, "-m", "tinygan", "serve", *args],
                               stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"),
                               preexec_fn=ctrl_c_as_in_a_terminal)
    lines = []
    while not any("open http" in line for line in lines):
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
    return process, lines


def test_the_command_prints_its_address_and_stops_on_ctrl_c():
    process, lines = serve_command("--port", "0", "--model", "human", "--device", "cpu")
    try:
        url = lines[-1].split("open ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:"), lines
        listing = json.loads(urllib.request.urlopen(url + "api/models", timeout=60).read())
        assert listing["first"].startswith("human-") and len(listing["models"]) == 2
        assert not any("warning" in line for line in lines)
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=60)[1]
    assert process.returncode == 0 and "Traceback" not in rest and "stopped" in rest, rest


def test_another_host_is_a_warning_and_a_busy_port_an_error():
    process, lines = serve_command("--port", "0", "--host", "0.0.0.0", "--device", "cpu")
    try:
        assert any("warning: listening on 0.0.0.0: anyone who can reach" in line
                   for line in lines), lines
        port = int(lines[-1].split("open http://")[1].split("/")[0].rsplit(":", 1)[1])
        busy = invoke("serve", "--port", port, "--device", "cpu")
        assert busy.exit_code == 2
        assert busy.output.strip().splitlines()[-1].startswith(f"Error: cannot listen on "
                                                               f"127.0.0.1 port {port}")
    finally:
        process.terminate()   # SIGTERM stops it too
        rest = process.communicate(timeout=60)[1]
    assert process.returncode == 0 and "stopped" in rest, rest
