"""Face ids: a short, typeable name for every face tinygan draws, which draws that face again
(`tinygan sample --id ID`), on the CPU or on a GPU.

An id is the tag of the model that drew the face, then how the face's noise vector is made:

    anime-3f2a-7-12           face 12 of seed 7: the 13th noise vector latent(7, n) draws
    anime-3f2a-7-12t70n64     face 12 of the 64 drawn from seed 7 with --truncation 0.70
    anime-3f2a-7-12.v3s40     variation 3 of face 7-12, at spread 0.40 (sample --like)
    anime-3f2a-7-12.9-3.m25   a blend of faces 7-12 and 9-3, a quarter of the way to 9-3

The tag names the model's identity: a shipped model's name and the first 4 hex digits of its
fingerprint (anime-3f2a), or `ckpt` and 6 digits for any other checkpoint or export
(ckpt-5c01d9). The fingerprint is a SHA-256 of the generator as it draws: every weight and
BatchNorm statistic, with its name and shape. An id used with another model is refused, so it
never silently names a different face.

After the tag come steps, separated by dots and read left to right on a stack (as a calculator
in reverse Polish notation reads them):

    S-I[tTnN]   push face I of seed S (drawn among N faces with truncation T / 100)
    vKsP        replace the top face z by its variation K at spread s = P / 100:
                (z + s e) / sqrt(1 + s^2), where e, a noise vector, depends on K and on the
                steps that made z; the division keeps |z| typical for Gaussian noise
    mP          replace the top two faces a, b by slerp(a, b, P / 100)

A complete id leaves one face on the stack. Numbers are written without leading zeros, so each
face has one id. All noise is drawn on the host (NumPy's PCG64), so an id gives the same noise,
and so the same face, on any device.
"""

import hashlib
import math
import os
import re
from dataclasses import dataclass

import numpy as np

from .generate import PRETRAINED_DIR, SHIPPED, latent, slerp

MAX_FACES = 65536      # faces per seed an id can reach (face 0 .. 65,535)
MAX_SEED = 2 ** 32 - 1
MAX_VARIATION = 65535
MAX_SPREAD = 400       # hundredths: spreads 0.01 .. 4.00
MAX_STEPS = 16         # steps after the tag
MAX_LENGTH = 200
SHIPPED_DIGITS, CHECKPOINT_DIGITS = 4, 6

NUMBER = r"(0|[1-9][0-9]*)"
TAG = re.compile(rf"(?:{'|'.join(SHIPPED)})-[0-9a-f]{{{SHIPPED_DIGITS}}}"
                 rf"|ckpt-[0-9a-f]{{{CHECKPOINT_DIGITS}}}")
FACE = re.compile(rf"{NUMBER}-{NUMBER}(?:t{NUMBER}n{NUMBER})?")
VARY = re.compile(rf"v{NUMBER}s{NUMBER}")
BLEND = re.compile(rf"m{NUMBER}")


class IdError(ValueError):
    """A face id that cannot be read, or that names a face of another model."""


@dataclass(frozen=True)
class FaceId:
    tag: str      # the model: 'anime-3f2a', 'ckpt-5c01d9'
    steps: tuple  # ('7-12', 'v3s40', ...), each a step as written

    def __str__(self):
        return ".".join((f"{self.tag}-{self.steps[0]}",) + self.steps[1:])


# -- models ----------------------------------------------------------------------------------

def fingerprint(G):
    """SHA-256 (hex) of a generator's weights and statistics, names and shapes included."""
    digest = hashlib.sha256()
    for name, value in sorted(G.state_dict().items()):
        value = np.ascontiguousarray(value)
        digest.update(f"{name} {value.dtype.str} {value.shape}\n".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def model_tag(path, G):
    """'anime-3f2a' for a shipped model's file, 'ckpt-5c01d9' for any other."""
    name = os.path.splitext(os.path.basename(path))[0]
    shipped = name in SHIPPED and os.path.samefile(os.path.dirname(os.path.abspath(path)),
                                                   PRETRAINED_DIR)
    if shipped:
        return f"{name}-{fingerprint(G)[:SHIPPED_DIGITS]}"
    return f"ckpt-{fingerprint(G)[:CHECKPOINT_DIGITS]}"


def shipped_name(tag):
    """The shipped model a tag names ('anime'), or None for a checkpoint's tag."""
    name = tag.split("-")[0]
    return name if name in SHIPPED else None


# -- writing and reading ids -----------------------------------------------------------------

def face_id(tag, seed, index, truncation=None, drawn=None):
    """The id of face `index` of `seed`'s draw (of `drawn` faces, with a truncation)."""
    step = f"{seed}-{index}"
    if truncation is not None:
        step += f"t{hundredths(truncation, 'the truncation')}n{drawn}"
    return FaceId(tag, (step,))


def variation_id(base, k, spread):
    if not 0 <= k <= MAX_VARIATION:
        raise IdError(f"variations are numbered 0 to {MAX_VARIATION}, not {k}")
    return _fitting(FaceId(base.tag, base.steps + (f"v{k}s{hundredths(spread, 'the spread')}",)))


def blend_id(a, b, percent):
    if a.tag != b.tag:
        raise IdError(f"{a} and {b} are faces of different models: they cannot be blended")
    return _fitting(FaceId(a.tag, a.steps + b.steps + (f"m{percent}",)))


def _fitting(face):
    """A derived face's id, if it is short enough to be read back."""
    if len(face.steps) > MAX_STEPS or len(str(face)) > MAX_LENGTH:
        raise IdError(f"{face}: ids made from these faces would pass {MAX_STEPS} steps or "
                      f"{MAX_LENGTH} characters; start from a plainer face")
    return face


def hundredths(value, what):
    """A value of at most two decimals as a whole number of hundredths (0.7 -> 70)."""
    whole = round(value * 100)
    if abs(whole - value * 100) > 1e-6:
        raise IdError(f"{what} takes at most two decimals, as face ids record it: not {value}")
    return whole


def parse(text):
    """The FaceId written as `text`, or an IdError saying what is wrong with it."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise IdError(f"a face id has at most {MAX_LENGTH} characters")
    tag = TAG.match(text)
    if not tag or text[tag.end():tag.end() + 1] != "-":
        raise IdError(f"{text!r} is not a face id: an id starts with a model's tag, as in "
                      f"anime-3f2a-7-12 or ckpt-5c01d9-7-12")
    steps = tuple(text[tag.end() + 1:].split("."))
    if len(steps) > MAX_STEPS:
        raise IdError(f"{text}: a face id has at most {MAX_STEPS} steps")
    depth = 0
    for step in steps:
        depth += _check_step(text, step, depth)
    if depth != 1:
        raise IdError(f"{text}: its steps leave {depth} faces, not one (each mP blends two)")
    return FaceId(tag.group(0), steps)


def _check_step(text, step, depth):
    """How the step changes the stack's depth; an IdError if it is not a step or cannot run."""
    if match := FACE.fullmatch(step):
        seed, index, t, n = (None if v is None else int(v) for v in match.groups())
        drawn = MAX_FACES if n is None else n
        if seed > MAX_SEED or index >= drawn or drawn > MAX_FACES or t == 0:
            raise IdError(f"{text}: {step} is out of range (seeds up to {MAX_SEED}, face "
                          f"numbers below {MAX_FACES:,} and below the n faces drawn)")
        return 1
    if match := VARY.fullmatch(step):
        k, spread = map(int, match.groups())
        if k > MAX_VARIATION or not 0 < spread <= MAX_SPREAD:
            raise IdError(f"{text}: {step} is out of range (variations up to {MAX_VARIATION}, "
                          f"spreads s1 to s{MAX_SPREAD}, in hundredths)")
        if depth < 1:
            raise IdError(f"{text}: {step} varies a face, but no face comes before it")
        return 0
    if match := BLEND.fullmatch(step):
        if int(match.group(1)) > 100:
            raise IdError(f"{text}: {step} blends at most 100 percent of the way")
        if depth < 2:
            raise IdError(f"{text}: {step} blends two faces, but fewer come before it")
        return -1
    raise IdError(f"{text}: {step!r} is not a step of a face id (S-I, vKsP or mP)")


def check_model(ids, tag):
    """An IdError unless every id is a face of the model tagged `tag`."""
    for face in ids:
        if face.tag != tag:
            raise IdError(f"{face} is a face of model {face.tag}, not of {tag}, the model in "
                          "use")


# -- from ids to noise -----------------------------------------------------------------------

def noise(ids, nz):
    """The noise vectors (len(ids), nz) float32 of parsed ids: what the generator draws them
    from. Each seed's faces are drawn once for all the ids that need them."""
    rows = _seed_rows(ids, nz)
    return np.stack([_evaluate(face.steps, rows, nz) for face in ids]).astype(np.float32)


def _seed_rows(ids, nz):
    """{face step: its noise vector} for every S-I step of `ids`, one latent() draw per seed
    (and truncation), of as many faces as the highest face number needs."""
    rows = {}
    for (seed, t, n), steps in _draws(ids).items():
        drawn = latent(seed, n or max(steps.values()) + 1, nz, t and t / 100)
        rows.update({step: drawn[index].astype(np.float64) for step, index in steps.items()})
    return rows


def _draws(ids):
    """{(seed, truncation in hundredths or None, n or None): {face step: face number}}."""
    wanted = {}
    for face in ids:
        for step in face.steps:
            if match := FACE.fullmatch(step):
                seed, index, t, n = match.groups()
                key = (int(seed), t and int(t), n and int(n))
                wanted.setdefault(key, {})[step] = int(index)
    return wanted


def noise_draws(ids):
    """How many noise vectors drawing `ids` takes, a measure of its cost: the faces of each
    seed up to the highest number needed, and, with a truncation t, on average 1 / P(|z| < t)
    times as many numbers for the redraws."""
    total = 0.0
    for (seed, t, n), steps in _draws(ids).items():
        count = n or max(steps.values()) + 1
        total += count / (math.erf(t / 100 / math.sqrt(2)) if t else 1)
    return total


def _evaluate(steps, rows, nz):
    """Run the steps on a stack of (noise, the steps that made it); the one face left."""
    stack = []
    for step in steps:
        if step in rows:
            stack.append((rows[step], step))
        elif step[0] == "v":
            z, made = stack.pop()
            k, spread = map(int, VARY.fullmatch(step).groups())
            s = spread / 100
            z = (z + s * variation_noise(made, k, nz)) / math.sqrt(1 + s * s)
            stack.append((z, f"{made}.{step}"))
        else:
            (b, made_b), (a, made_a) = stack.pop(), stack.pop()
            stack.append((slerp(a, b, int(step[1:]) / 100), f"{made_a}.{made_b}.{step}"))
    return stack[0][0]


def variation_noise(made, k, nz):
    """The noise vector that variation k adds to the face made by the steps `made`: different
    for every face and every k, and the same on every machine."""
    digest = int.from_bytes(hashlib.sha256(made.encode()).digest()[:16], "little")
    return np.random.default_rng([digest, k]).standard_normal(nz)
