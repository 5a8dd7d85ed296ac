"""Checkpoints: one .npz of named arrays plus a JSON header, written atomically, read safely.

Layout of a checkpoint file (every entry a plain array; nothing is ever pickled):
    meta             uint8 bytes of a JSON object: format, config, step, epoch, seed, ...
    G/<name>         generator parameters and BatchNorm buffers ('3.W', '4.running_mean', ...)
    D/<name>         discriminator, likewise
    G_ema/<name>     the moving average of the generator, used for samples
    optG/<key>, optD/<key>   Adam state ('m/3.W', 'v/3.W', 't')
A generator export (`tinygan export`) holds meta and G_ema/ (whatever its weights are, which
meta['weights'] names), and D/ if it was exported with --with-d, as the shipped models were;
no optimizer state.

Writing goes to a temporary file in the same folder, is flushed to disk, then renamed over
the final name: a crash at any moment leaves either the old file or the new one, never half
of one. Older checkpoints are deleted only after the new one is complete; one every
`milestone_every` steps is kept for good in the run's milestones/ folder.

Reading never unpickles anything and checks every array against the config stored with it,
so a damaged file is refused with its name and the problem, before anything uses it.
"""

import glob
import json
import os
import shutil
import zipfile

import numpy as np

from ..nn.layers.base import section  # noqa: F401  (ckpt.section, for its readers)

FORMAT = "tinygan-checkpoint-1"
PREFIX = "ckpt_"
MILESTONES = "milestones"   # the subfolder of lasting checkpoints
MILESTONE_EVERY = 1000      # steps between them, unless a run says otherwise


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the problem."""


def encode_meta(meta):
    return np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)


def save(path, arrays, meta, compress=False):
    """Write arrays + meta to `path` atomically (temporary file, fsync, rename); `compress`
    deflates the entries (for files that ship: slower to write, ~8% smaller in float16)."""
    payload = dict(arrays)
    payload["meta"] = encode_meta(dict(meta, format=FORMAT))
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(os.path.dirname(path) or ".")


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path):
    """Read a checkpoint -> (arrays dict, meta dict), or raise CheckpointError saying why.

    Every way a file can be damaged (flipped bytes, cut short, entries missing or of the
    wrong shape, pickled objects) ends here, as one CheckpointError naming the file."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    arrays = _read_npz(path)
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not a tinygan checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{path}: its 'meta' entry is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tinygan checkpoint (format {meta.get('format')!r})"
                              if isinstance(meta, dict) else f"{path}: bad 'meta' entry")
    if not isinstance(meta.get("step", 0), (int, type(None))) or \
            not isinstance(meta.get("epoch", 0), (int, float)):
        raise CheckpointError(f"{path}: bad step or epoch in its 'meta' entry")
    for name, value in arrays.items():
        if value.dtype.kind not in "fiub":
            raise CheckpointError(f"{path}: entry {name!r} has unexpected dtype {value.dtype}")
    check_contents(path, arrays, meta)
    return arrays, meta


def _read_npz(path):
    """All entries of an .npz as arrays. allow_pickle=False: a pickle can run code when it is
    loaded, so an object array (or any pickle) is refused, never unpickled."""
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path}: not an .npz archive (a single .npy array?)")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except CheckpointError:
        raise
    except ValueError as exc:
        if not zipfile.is_zipfile(path):   # np.load takes any other file for a pickle
            raise CheckpointError(f"{path}: not a checkpoint (.npz) file") from None
        if "pickle" in str(exc).lower():
            raise CheckpointError(f"{path}: holds pickled objects, which are never loaded") from None
        raise CheckpointError(f"{path}: corrupt checkpoint ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint "
                              f"({exc.__class__.__name__}: {exc})") from None
    except Exception as exc:   # zlib errors, bad headers: any failure to parse is corruption
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc.__class__.__name__})") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):   # np.load hands back a non-.npy member as bytes
            raise CheckpointError(f"{path}: entry {name!r} is not an array")
    return arrays


def check_contents(path, arrays, meta):
    """Every model in the file must have exactly the arrays its own config describes, so a
    damaged file fails here, with its name, and not later in the middle of a command."""
    from ..gan.networks import discriminator_for, generator_for
    config = meta.get("config")
    parts = {prefix: section(arrays, prefix) for prefix in ("G", "G_ema", "D", "optG", "optD")}
    if not parts["G"] and not parts["G_ema"]:
        raise CheckpointError(f"{path}: holds no generator (no G/ or G_ema/ arrays)")
    try:
        G = generator_for(config)
        D = discriminator_for(config) if parts["D"] or parts["optD"] else None
    except Exception as exc:   # missing keys, wrong types, absurd sizes
        raise CheckpointError(f"{path}: its config is unusable ({exc.__class__.__name__}: "
                              f"{exc})") from None
    for prefix, model in (("G", G), ("G_ema", G), ("D", D)):
        if parts[prefix]:
            check_model_arrays(path, model, parts[prefix], prefix)
    for prefix, model in (("optG", G), ("optD", D)):
        if parts[prefix]:
            check_optimizer_arrays(path, model, parts[prefix], prefix)


def check_model_arrays(path, model, state, what):
    """Raise CheckpointError unless `state` has every array of `model` with the right shape
    and only finite values."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise CheckpointError(f"{path}: {what} is missing arrays ({_first_few(missing)})")
    for name, value in expected.items():
        if state[name].shape != value.shape:
            raise CheckpointError(f"{path}: {what} array {name} has shape {state[name].shape}, "
                                  f"the config needs {value.shape}")
        if not np.all(np.isfinite(state[name])):
            raise CheckpointError(f"{path}: {what} array {name} holds NaN or inf")


def check_optimizer_arrays(path, model, state, what):
    """Adam state: a step count 't' and, per parameter, finite 'm/<name>', 'v/<name>' arrays
    of that parameter's shape: for every parameter, or for none before the first step (t = 0).
    A missing moment would be taken for zeros, and the resumed run would silently differ."""
    t = state.get("t")
    if t is None or t.shape != () or t.dtype.kind not in "iu" or t < 0:
        raise CheckpointError(f"{path}: {what} has no valid step count 't'")
    shapes = {name: layer.params[key].shape for name, layer, key in model.parameters()}
    for key, value in state.items():
        kind, _, name = key.partition("/")
        if key == "t":
            continue
        if kind not in ("m", "v") or shapes.get(name) != value.shape:
            raise CheckpointError(f"{path}: {what} entry {key} does not fit the model")
        if not np.all(np.isfinite(value)):
            raise CheckpointError(f"{path}: {what} entry {key} holds NaN or inf")
    if t > 0 or len(state) > 1:
        missing = [f"{kind}/{name}" for kind in ("m", "v") for name in shapes
                   if f"{kind}/{name}" not in state]
        if missing:
            raise CheckpointError(f"{path}: {what} is missing entries ({_first_few(missing)})")


def _first_few(names):
    """'a, b, c' or 'a, b, c, ...': the first three names of a list."""
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def checkpoint_path(run_dir, step):
    return os.path.join(run_dir, f"{PREFIX}{step:08d}.npz")


def list_checkpoints(run_dir):
    """Checkpoint files of a run, newest (highest step) first; a file of another name that
    starts like one (ckpt_best.npz, a copy the user made) is not the run's."""
    found = glob.glob(os.path.join(run_dir, f"{PREFIX}*.npz"))
    return sorted((p for p in found if os.path.basename(p)[len(PREFIX):-len(".npz")].isdigit()),
                  reverse=True)


def step_of(path):
    """The training step in a checkpoint's file name."""
    return int(os.path.basename(path)[len(PREFIX):-len(".npz")])


def prune(run_dir, keep):
    """Delete all but the newest `keep` checkpoints, plus leftover temporary files."""
    for old in list_checkpoints(run_dir)[keep:]:
        os.remove(old)
    for tmp in glob.glob(os.path.join(run_dir, f"{PREFIX}*.npz.tmp")):
        os.remove(tmp)


def keep_milestone(run_dir, path, every):
    """Keep the checkpoint at `path` in run_dir/milestones/, which prune never touches, when
    it is the run's first checkpoint at or past a multiple of `every` steps (0: never).

    A GAN can get worse late in a run, or collapse; with only the newest few checkpoints kept,
    the good models would be gone by the time anyone looks. A hard link costs no disk space
    while the checkpoint is still among the newest. Returns the milestone's path, or None."""
    if not every:
        return None
    step = step_of(path)
    earlier = [s for s in map(step_of, list_checkpoints(run_dir)) if s < step]
    if step // every <= max(earlier, default=0) // every:
        return None
    folder = os.path.join(run_dir, MILESTONES)
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, os.path.basename(path))
    tmp = target + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    try:
        os.link(path, tmp)
    except OSError:   # a file system without hard links
        shutil.copyfile(path, tmp)
    os.replace(tmp, target)   # a rolled-back run that reaches this step again replaces it
    return target
