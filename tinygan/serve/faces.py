"""What `tinygan serve` draws, apart from HTTP: the models it offers, each request's
parameters checked, and the faces, PNGs and zips it answers with.

Every value a request sends is checked here against a fixed range before anything is drawn;
a bad one raises BadRequest, whose message the page shows. No value is ever used as a path.
The fast layers share their buffers (tinygan/fast/buffers.py), so one lock lets one request
at a time draw, whichever model it asks for; two tabs asking at once wait their turns and each
gets its own faces.
"""

import base64
import io
import threading
import time
import zipfile

from PIL import Image

from ..draw import avatars
from ..draw import ids as face_ids

MAX_FACES = 64      # faces in one answer
MAX_SEED = face_ids.MAX_SEED
MAX_BLENDS = 15
SCALES = (1, 2, 4)  # downloads: a 64 px model's faces at 64, 128 or 256 px
MAX_DRAWS = 2 ** 17  # noise vectors one request may draw (ids.noise_draws): under a second


class BadRequest(ValueError):
    """A request the server refuses (HTTP 400); the message says why, in one line."""


class Faces:
    """The models on offer (the first is the one shown first), and the lock that keeps their
    drawing one request at a time."""

    def __init__(self, models):
        self.models = {model.tag: model for model in models}
        self.first = models[0].tag
        self.lock = threading.Lock()

    def listing(self):
        return {"models": [{"tag": tag, "name": name_of(model), "size": model.size,
                            "downloads": [model.size * s for s in SCALES]}
                           for tag, model in self.models.items()], "first": self.first}

    def model(self, tag):
        if tag not in self.models:
            raise BadRequest(f"no model {tag!r} here: this server has "
                             f"{', '.join(self.models)}")
        return self.models[tag]

    def face(self, text):
        """The parsed id `text` and the model that draws it."""
        try:
            face = face_ids.parse(text)
        except face_ids.IdError as exc:
            raise BadRequest(str(exc)) from None
        return face, self.model(face.tag)

    def draw(self, model, ids, sharpest=None):
        """(faces, ids, milliseconds): drawn under the lock, the k sharpest if asked."""
        if face_ids.noise_draws(ids) > MAX_DRAWS:
            raise BadRequest("these faces take too long to draw here (faces far into a "
                             "seed's draw, or a small truncation): tinygan sample --id draws "
                             "them")
        with self.lock:
            start = time.perf_counter()
            if sharpest:
                faces, ids = avatars.pick(model, ids, sharpest, "sharpest")
            else:
                faces = avatars.draw(model, ids)
            return faces, ids, 1000 * (time.perf_counter() - start)

    # -- the answers, one per kind of request ------------------------------------------------

    def grid(self, q):
        """A seed's faces (or the sharpest of 4 x n), as the page's grid shows them."""
        only(q, "model", "seed", "n", "sharpest")
        model = self.model(text(q, "model"))
        n, seed = number(q, "n", 1, MAX_FACES), number(q, "seed", 0, MAX_SEED)
        sharpest = flag(q, "sharpest")
        drawn = n * avatars.PICKED_FROM if sharpest else n
        return self.answer(model, lambda: avatars.grid_ids(model.tag, seed, drawn),
                           n if sharpest else 0)

    def like(self, q):
        """Variations page * n .. page * n + n - 1 of a face."""
        only(q, "id", "n", "page", "spread")
        face, model = self.face(text(q, "id"))
        n = number(q, "n", 1, MAX_FACES)
        page = number(q, "page", 0, (face_ids.MAX_VARIATION + 1) // n - 1)
        spread = number(q, "spread", 1, face_ids.MAX_SPREAD) / 100   # in hundredths
        return self.answer(model, lambda: avatars.like_ids(face, n, page * n, spread))

    def blend(self, q):
        """Face a, evenly spaced blends, face b."""
        only(q, "a", "b", "steps")
        (a, model), (b, other) = self.face(text(q, "a")), self.face(text(q, "b"))
        if model is not other:
            raise BadRequest(f"{a} and {b} are faces of different models: they cannot blend")
        steps = number(q, "steps", 1, MAX_BLENDS)
        return self.answer(model, lambda: avatars.blend_ids(a, b, steps))

    def answer(self, model, make_ids, sharpest=0):
        """(JSON answer, milliseconds drawing) for the faces make_ids() names; BadRequest if
        a derived id would be too long to read back."""
        try:
            ids = make_ids()
        except face_ids.IdError as exc:
            raise BadRequest(str(exc)) from None
        faces, ids, ms = self.draw(model, ids, sharpest)
        return {"faces": [{"id": str(i), "png": data_url(f)} for i, f in zip(ids, faces)],
                "ms": round(ms, 1)}, ms

    def png(self, q):
        """(file name, PNG bytes, ms) of one face at a download size."""
        only(q, "id", "size")
        face, model = self.face(text(q, "id"))
        scale = self.scale(model, q)
        faces, _, ms = self.draw(model, [face])
        return f"{face}.png", png_bytes(avatars.enlarged(faces, scale)[0]), ms

    def zip(self, q):
        """(file name, zip bytes, ms): every face named, each as ID.png."""
        only(q, "ids", "size")
        names = text(q, "ids").split(",")
        if len(names) > MAX_FACES:
            raise BadRequest(f"at most {MAX_FACES} faces in one zip, not {len(names)}")
        faces = [self.face(name) for name in dict.fromkeys(names)]
        buffer, total = io.BytesIO(), 0.0
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for tag in dict.fromkeys(model.tag for _, model in faces):
                model = self.models[tag]
                scale = self.scale(model, q)
                ids = [face for face, m in faces if m is model]
                drawn, _, ms = self.draw(model, ids)
                total += ms
                for face, picture in zip(ids, avatars.enlarged(drawn, scale)):
                    archive.writestr(f"{face}.png", png_bytes(picture))
        return "tinygan-avatars.zip", buffer.getvalue(), total

    def scale(self, model, q):
        size = number(q, "size", 1, 4096)
        if size not in [model.size * s for s in SCALES]:
            raise BadRequest(f"size {size}: faces of {model.tag} download at "
                             f"{', '.join(str(model.size * s) for s in SCALES)} px")
        return size // model.size


def name_of(model):
    shipped = face_ids.shipped_name(model.tag)
    return f"{shipped} (shipped)" if shipped else model.path


# -- reading a request's parameters ----------------------------------------------------------

def only(q, *names):
    unknown = sorted(set(q) - set(names))
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:20]!r}: this request takes "
                         f"{', '.join(names)}")


def text(q, name):
    if name not in q:
        raise BadRequest(f"the request needs {name}=...")
    return q[name]


def number(q, name, low, high):
    """A whole number parameter within [low, high]."""
    value = text(q, name)
    if not (value.isascii() and value.isdigit()) or len(value) > 10 or \
            not low <= int(value) <= high:
        raise BadRequest(f"{name} is a whole number from {low} to {high}, not {value[:20]!r}")
    return int(value)


def flag(q, name):
    value = q.get(name, "0")
    if value not in ("0", "1"):
        raise BadRequest(f"{name} is 0 or 1, not {value[:20]!r}")
    return value == "1"


# -- pictures as bytes -----------------------------------------------------------------------

def png_bytes(picture):
    """PNG bytes at deflate level 1: faces hardly compress, so level 6 (Pillow's default)
    took 2.5 times as long for files 1.5 % smaller."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def data_url(picture):
    return "data:image/png;base64," + base64.b64encode(png_bytes(picture)).decode()
