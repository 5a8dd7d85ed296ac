"""Checkpoints: one .npz of named arrays plus a JSON header, written atomically, read safely.

Layout of a checkpoint file (every entry a plain array; nothing is ever pickled):
    meta             uint8 bytes of a JSON object: format, config, step, epoch, seed, ...
    G/<name>         generator parameters and BatchNorm buffers ('3.W', '4.running_mean', ...)
    D/<name>         discriminator, likewise
    G_ema/<name>     the moving average of the generator, used for samples
    optG/<key>, optD/<key>   Adam state ('m/3.W', 'v/3.W', 't')
A generator export (`tinygan export`, the shipped model) holds only meta and G_ema/ or G/.

Writing goes to a temporary file in the same folder, is flushed to disk, then renamed over
the final name: a crash at any moment leaves either the old file or the new one, never half
of one. Older checkpoints are deleted only after the new one is complete.
"""

import glob
import json
import os
import zipfile

import numpy as np

FORMAT = "tinygan-checkpoint-1"
PREFIX = "ckpt_"


class CheckpointError(ValueError):
    """A checkpoint file cannot be used; the message names the file and the problem."""


def encode_meta(meta):
    return np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)


def save(path, arrays, meta):
    """Write arrays + meta to `path` atomically (temporary file, fsync, rename)."""
    payload = dict(arrays)
    payload["meta"] = encode_meta(dict(meta, format=FORMAT))
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
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
    """Read a checkpoint -> (arrays dict, meta dict), or raise CheckpointError saying why."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CheckpointError(f"{path}: holds pickled objects, which are never loaded") from None
        raise CheckpointError(f"{path}: corrupt checkpoint ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint "
                              f"({exc.__class__.__name__}: {exc})") from None
    except Exception as exc:   # zlib errors, bad headers: any failure to parse is corruption
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc.__class__.__name__})") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path}: not a tinygan checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{path}: its 'meta' entry is not valid JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tinygan checkpoint (format {meta.get('format')!r})"
                              if isinstance(meta, dict) else f"{path}: bad 'meta' entry")
    for name, value in arrays.items():
        if value.dtype.kind not in "fiub":
            raise CheckpointError(f"{path}: entry {name!r} has unexpected dtype {value.dtype}")
    return arrays, meta


def section(arrays, prefix):
    """The entries under 'prefix/', with the prefix removed."""
    start = prefix + "/"
    return {k[len(start):]: v for k, v in arrays.items() if k.startswith(start)}


def check_model_arrays(path, model, state, what):
    """Raise CheckpointError unless `state` has every array of `model` with the right shape
    and only finite values."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise CheckpointError(f"{path}: {what} is missing arrays ({', '.join(missing[:3])}"
                              f"{', ...' if len(missing) > 3 else ''})")
    for name, value in expected.items():
        if state[name].shape != value.shape:
            raise CheckpointError(f"{path}: {what} array {name} has shape {state[name].shape}, "
                                  f"the config needs {value.shape}")
        if not np.all(np.isfinite(state[name])):
            raise CheckpointError(f"{path}: {what} array {name} holds NaN or inf")


def checkpoint_path(run_dir, step):
    return os.path.join(run_dir, f"{PREFIX}{step:08d}.npz")


def list_checkpoints(run_dir):
    """Checkpoint files of a run, newest (highest step) first."""
    return sorted(glob.glob(os.path.join(run_dir, f"{PREFIX}*.npz")), reverse=True)


def prune(run_dir, keep):
    """Delete all but the newest `keep` checkpoints, plus leftover temporary files."""
    for old in list_checkpoints(run_dir)[keep:]:
        os.remove(old)
    for tmp in glob.glob(os.path.join(run_dir, f"{PREFIX}*.npz.tmp")):
        os.remove(tmp)
