"""Data-parallel training over MPI: `mpiexec -n N tinygan train` computes what one process does.

Every run is the real command line in subprocesses (32 px, 8 channels, 64 demo faces, batch 16,
5 steps, one BLAS thread per rank), compared through its checkpoint.

How close is "the same"? The split run adds the same terms as the single process in another
order (each rank sums its images, then the ranks' sums are added), so every sum may differ in
its last bits (float32: 1.2e-7 relative), and five steps of BatchNorm and Adam carry that
along. Measured: at most 2.4e-6 of an array's largest value, for every array. The tests allow
1e-5 of it. The mistakes they exist to catch are far larger: without the 1/ranks loss scale
Adam's moments are off by a factor of 2 or 4; without synchronised BatchNorm its running
statistics are those of half batches, about 1e-2 off; another image or noise slice changes the
weights by about 1e-3 of their size.
"""

import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tinygan.run import checkpoint as ckpt

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
# one BLAS thread per rank: the models are tiny, and there are more ranks than cores
ENV = dict(os.environ, PYTHONPATH=REPO, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
TINY = ["--data", "demo", "--demo-count", "64", "--size", "32", "--ngf", "8", "--ndf", "8",
        "--batch", "16", "--recipe", "dcgan", "--real-label", "0.9", "--label-noise", "0.1",
        "--log-every", "1", "--sample-every", "1000", "--device", "cpu"]
CLI = [sys.executable, "-m", "tinygan"]
RELATIVE_TOLERANCE = 1e-5


def _mpi_missing():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed"
    return None if MPIEXEC else "no mpiexec on PATH"


if _mpi_missing() and not os.environ.get("CI"):   # CI installs the extra: there it must run
    pytest.skip(f"{_mpi_missing()}: pip install -e '.[mpi]'", allow_module_level=True)


def command(ranks, *args):
    """The command line of `tinygan ARGS` on `ranks` ranks (one plain process for 1)."""
    args = [str(a) for a in args]
    return CLI + args if ranks == 1 else [MPIEXEC, "-n", str(ranks)] + CLI + args


def tinygan(ranks, *args, timeout=120, cwd=REPO):
    return subprocess.run(command(ranks, *args), env=ENV, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def train(ranks, run_dir, *args, options=TINY):
    result = tinygan(ranks, "train", *options, "--out", run_dir, *args)
    assert result.returncode == 0, result.stderr
    return result


def final_state(run_dir):
    arrays, meta = ckpt.load(ckpt.list_checkpoints(run_dir)[0])
    return arrays, meta["step"]


def logged_losses(run_dir):
    with open(os.path.join(run_dir, "log.csv")) as f:
        return [{k: float(r[k]) for k in ("loss_d", "loss_g", "d_real", "d_fake")}
                for r in csv.DictReader(f)]


def assert_same_run(reference, other):
    """Every array (weights, BatchNorm statistics, EMA, Adam moments and step) agrees."""
    (a, step_a), (b, step_b) = reference, other
    assert step_a == step_b
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        scale = np.abs(x).max()
        assert np.abs(x - y).max() <= RELATIVE_TOLERANCE * scale, (
            f"{name}: differs by {np.abs(x - y).max():.2e}, largest value {scale:.2e}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, batch 16, five steps: the run every split run must reproduce."""
    run = tmp_path_factory.mktemp("mpi") / "one"
    train(1, run, "--steps", 5)
    return run


def test_two_and_four_ranks_train_like_one_process(reference, tmp_path):
    for ranks in (2, 4):   # 8 and 4 images per rank; 4 ranks oversubscribe 2 cores
        run = tmp_path / f"ranks{ranks}"
        train(ranks, run, "--steps", 5)
        assert_same_run(final_state(reference), final_state(run))
        for mine, theirs in zip(logged_losses(reference), logged_losses(run), strict=True):
            for key in mine:   # log.csv holds 5 decimals
                assert abs(mine[key] - theirs[key]) <= 2e-5, (ranks, key, mine, theirs)
        assert not glob.glob(str(run / "*.tmp"))


@pytest.mark.parametrize("config", [
    dict(recipe="modern", d_norm="spectral", mbstd=True, augment="color,translation,cutout"),
    dict(recipe="dcgan", real_label=0.9, label_noise=0.3),
    dict(recipe="modern", r1=1.0)])
def test_a_step_split_over_ranks_gets_the_whole_batchs_gradients(config):
    """Each rank takes its share of the whole batch's augmentation draws and label flips, the
    minibatch standard deviation's groups of 4 lie inside one rank's share, and the loss
    gradients are scaled to the global batch: D and G receive the gradients of one process
    on the whole batch, to float32 rounding."""
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "tests/mpi_step_parity.py",
                             json.dumps(config)], env=ENV, capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert [name for name, _ in lines] == ["opt_D", "opt_G"]
    for name, difference in lines:
        assert float(difference) <= 1e-5, (name, difference)


def test_device_arrays_are_reduced_through_host_memory(reference, tmp_path):
    """Two ranks on `--device gpu` with the CPU stand-in for CuPy (tests/cupy_standin.py, which
    refuses any implicit device <-> host copy) train like one CPU process."""
    script = ("import sys; sys.path.insert(0, 'tests'); import cupy_standin; "
              "sys.modules['cupy'] = cupy_standin.make_module(); "
              "from tinygan.cli import main; main(sys.argv[1:])")
    run = tmp_path / "gpu"
    args = ["train", *TINY[:-2], "--device", "gpu", "--out", str(run), "--steps", "5"]
    result = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", script, *args], env=ENV,
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "on gpu" in result.stderr
    assert_same_run(final_state(reference), final_state(run))


@pytest.mark.parametrize("first, then", [(2, 1), (1, 2)])
def test_a_run_resumes_on_another_number_of_ranks(reference, tmp_path, first, then):
    run = tmp_path / "run"
    train(first, run, "--steps", 3)
    result = tinygan(then, "train", "--resume", run, "--steps", 5)
    assert result.returncode == 0, result.stderr
    assert_same_run(final_state(reference), final_state(run))


def test_mismatched_arguments_are_refused(tmp_path):
    run = tmp_path / "run"
    first = CLI + ["train", *TINY, "--out", str(run), "--steps", "5"]
    result = subprocess.run([MPIEXEC, "-n", "1", *first, ":", "-n", "1", *first, "--lr", "1e-3"],
                            env=ENV, capture_output=True, text=True, timeout=60, cwd=REPO)
    errors = assert_one_error(result, "different arguments", "rank 1", "lr")
    assert "batch" not in errors
    assert not run.exists()   # refused before anything was written


def test_a_batch_that_does_not_divide_is_refused(tmp_path):
    result = tinygan(3, "train", *TINY, "--out", tmp_path / "run", "--steps", 5)
    assert_one_error(result, "--batch 16 cannot be shared by 3 ranks")


def test_different_data_on_the_ranks_is_refused():
    script = ("import os; import numpy as np; from tinygan.run import mpi as parallel; w = parallel.world(); "
              "same, odd = np.zeros((4, 2, 2, 3), np.uint8), min(w.rank, 1) * np.ones(1, np.uint8); "
              "os.write(1, f'{w.data_problem(same)} {w.data_problem(same + odd)}\\n'.encode())")
    result = subprocess.run([MPIEXEC, "-n", "3", sys.executable, "-c", script], env=ENV,
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    # every rank gets the same answers (their lines may interleave)
    assert result.stdout.count("None rank 1 loaded different data from rank 0") == 3, result.stdout


def assert_one_error(result, *fragments):
    """Exit code 2, and one 'Error: ...' line for all the ranks, never a traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "Error: " in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("stub", [
    {"__init__.py": "raise ImportError(\"No module named 'mpi4py'\")"},   # no extra installed
    {"__init__.py": "class rc:\n    pass", "MPI.py": "raise RuntimeError('cannot load MPI "
     "library: libmpi.so.12: cannot open shared object file')"},         # no working MPI
])
def test_ranks_without_mpi4py_say_what_to_install(tmp_path, stub):
    (tmp_path / "mpi4py").mkdir()
    for name, text in stub.items():
        (tmp_path / "mpi4py" / name).write_text(text + "\n")
    for rank in ("0", "1"):   # as mpiexec would start them, without an MPI to join
        env = dict(ENV, PYTHONPATH=f"{tmp_path}{os.pathsep}{REPO}", PMI_SIZE="2", PMI_RANK=rank)
        result = subprocess.run(CLI + ["train", *TINY, "--out", str(tmp_path / "run")], env=env,
                                capture_output=True, text=True, timeout=60, cwd=REPO)
        assert result.returncode == 2, result.stderr
        if rank == "0":
            errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
            assert len(errors) == 1 and "pip install mpi4py mpich" in errors[0], result.stderr
            assert "Traceback" not in result.stderr
        else:   # the same error: rank 0 reports it
            assert result.stderr == result.stdout == "", result.stderr


def rank_pid(marker, rank):
    """The process id of rank `rank` of the run whose environment holds `marker`."""
    for environ in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(environ, "rb") as f:
                variables = f.read().split(b"\0")
        except OSError:
            continue
        if marker in variables and f"PMI_RANK={rank}".encode() in variables:
            return int(environ.split("/")[2])
    return None


def test_a_rank_killed_mid_run_stops_the_others_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    marker = f"TINYGAN_TEST_RUN={os.getpid()}-{time.time()}"
    env = dict(ENV, TINYGAN_TEST_RUN=marker.split("=", 1)[1])
    args = ["train", *TINY, "--out", run, "--steps", 400, "--ckpt-every", 4, "--keep", 2]
    proc = subprocess.Popen(command(2, *args), env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not len(ckpt.list_checkpoints(run)) >= 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = rank_pid(marker.encode(), 1)
        assert pid and ckpt.list_checkpoints(run), "the run did not start"
        os.kill(pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)   # every other rank exits within 60 s
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert "Traceback" not in stderr
    assert rank_pid(marker.encode(), 0) is None
    steps = []
    for path in ckpt.list_checkpoints(run):   # every checkpoint left is complete
        steps.append(ckpt.load(path)[1]["step"])
    assert 4 <= max(steps) < 400
    result = tinygan(2, "train", "--resume", run, "--steps", max(steps) + 2)
    assert result.returncode == 0, result.stderr
    assert final_state(run)[1] == max(steps) + 2


def test_ranks_started_without_out_name_one_run_folder(tmp_path):
    """The default run name holds the time; every rank uses rank 0's."""
    result = tinygan(2, "train", *TINY, "--steps", 2, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("demo-")
    assert ckpt.list_checkpoints(folders[0])
