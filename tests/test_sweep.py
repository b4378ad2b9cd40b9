"""`cxr-nb sweep` on a tiny stand-in notebook (no training): a LocalCluster of 2 workers on 127.0.0.1 with one
worker killed in the middle of a run, retries of a failing run, reruns that redo nothing, and the table per
grid cell."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from conftest import write_stand_in
from cxr_nb.cli import main, run_sweep

PRESETS = dict(smoke={})


def sweep_notebook(path: Path) -> Path:
    "A parameters cell and a body that records its worker, fails once if asked, waits and writes metrics.json."
    params = ('preset = "smoke"\nx = 1\nseed = 0\nsleep = 0.0\n'
              'fail_marker: "Optional[str]" = None\nout_dir: "Optional[str]" = None')
    body = ("import json, os, time\nfrom pathlib import Path\nout = Path(out_dir)\n"
            "(out / 'pid.tmp').write_text(str(os.getppid()))  # the process that started this kernel: the Dask worker\n"
            "os.replace(out / 'pid.tmp', out / 'pid')  # whole or absent: the test reads it while this runs\n"
            "(out / 'processes').write_text(os.environ.get('CXR_NB_PROCESSES', ''))  # what the runners would use\n"
            "if fail_marker and not Path(fail_marker).exists():\n"
            "    Path(fail_marker).write_text('failed once')\n"
            "    raise RuntimeError('deliberate first failure')\n"
            "time.sleep(sleep)\n"
            "(out / 'metrics.json').write_text(json.dumps(dict(table=[dict(metric='score', ours=10 * x + seed),\n"
            "                                                         dict(metric='half', ours=x / 2)])))")
    return write_stand_in(path, params, body)


@pytest.fixture
def tiny_sweep(tmp_path, stand_in_paper):
    stand_in_paper("sweepy", sweep_notebook, PRESETS)
    return tmp_path / "runs"


def _check_counted_once(res, n_points):
    assert len(res.runs) == n_points and (res.runs.status == "ok").all()
    points = [d for d in res.folder.iterdir() if d.is_dir()]
    assert len(points) == n_points and all((d / "done.json").is_file() for d in points)
    for d in points:  # the counted attempt is one of the point's own and finished
        rec = json.loads((d / "done.json").read_text())
        assert Path(rec["folder"]).parent == d and json.loads((Path(rec["folder"]) / "env.json").read_text())["status"] == "ok"


def test_dask_sweep_survives_a_killed_worker(tiny_sweep):
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        box = {}
        t = threading.Thread(target=lambda: box.update(res=run_sweep(
            "sweepy", ["x=1,2", "seed=0..2"], params=dict(sleep=2.0), out=tiny_sweep, scheduler=cluster.scheduler_address,
            retries=0, progress=False)))
        t.start()
        killed, deadline = None, time.time() + 120
        while killed is None and time.time() < deadline and t.is_alive():
            for f in tiny_sweep.glob("sweepy/sweep-*/*/attempt-1/pid"):
                if not (f.parent / "metrics.json").exists():  # this run is in the middle of its notebook
                    pid = int(f.read_text())
                    assert pid in worker_pids
                    os.kill(pid, signal.SIGKILL)
                    killed = f.parent
                    break
            time.sleep(0.1)
        t.join(300)
        assert killed is not None and not t.is_alive()
    res = box["res"]
    _check_counted_once(res, 6)
    # the killed run was redone in a new attempt folder and counted once
    assert not (killed / "env.json").exists()  # its worker died before recording it
    assert json.loads((killed.parent / "done.json").read_text())["attempt"] != killed.name
    assert int(res.runs.attempts.max()) >= 2
    s = res.summary.set_index(["x", "metric"])
    assert s.n.tolist() == [3, 3, 3, 3]  # 3 seeds per cell: nothing lost, nothing twice
    assert s.loc[(1, "score"), "mean"] == pytest.approx(11) and s.loc[(2, "score"), "mean"] == pytest.approx(21)
    assert s.loc[(1, "score"), "sd"] == pytest.approx(1) and s.loc[(2, "score"), "cv"] == pytest.approx(1 / 21)
    assert s.loc[(1, "score"), "ci_low"] < 11 < s.loc[(1, "score"), "ci_high"]
    assert s.loc[(2, "half"), "sd"] == pytest.approx(0)
    # a rerun redoes nothing and gives the same table
    before = sorted(str(p) for p in res.folder.rglob("attempt-*"))
    again = run_sweep("sweepy", ["x=1,2", "seed=0..2"], params=dict(sleep=2.0), out=tiny_sweep,
                      scheduler="tcp://127.0.0.1:1", progress=False)  # no scheduler needed: nothing to run
    assert sorted(str(p) for p in res.folder.rglob("attempt-*")) == before
    assert again.summary.equals(res.summary)


def test_local_sweep_retries_and_cli(tiny_sweep, tmp_path, capsys):
    marker = tmp_path / "failed_once"
    args = ["sweep", "sweepy", "-g", "seed=0..1", "-p", "fail_marker", str(marker), "--out", str(tiny_sweep),
            "--executor", "local", "--retries", "1", "--processes", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 of 2 runs finished" in out and "score" in out
    (folder,) = (tiny_sweep / "sweepy").glob("sweep-*")
    attempts = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/attempt-*"))
    assert attempts == ["seed=0/attempt-1", "seed=0/attempt-2", "seed=1/attempt-1"]  # the failure was retried once
    assert json.loads((folder / "seed=0" / "attempt-1" / "env.json").read_text())["status"] == "failed"
    assert (folder / "seed=1" / "attempt-1" / "processes").read_text() == "2"  # --processes reaches the kernel
    assert json.loads((folder / "seed=1" / "attempt-1" / "env.json").read_text())["processes"] == 2
    assert (folder / "summary.csv").read_text().splitlines()[1].startswith("score,2,10.5,")  # 10 x + seed: mean of 10 and 11
    assert main(args) == 0  # rerun: nothing redone
    assert sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/attempt-*")) == attempts


def test_sweep_refuses_bad_grids_before_running(tiny_sweep, capsys):
    assert main(["sweep", "sweepy", "-g", "nope=1,2", "--out", str(tiny_sweep), "--executor", "local"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["sweep", "sweepy", "-g", "seed=0..1", "-p", "seed", "3", "--out", str(tiny_sweep)]) == 2
    assert main(["sweep", "sweepy", "-g", "x=a,b", "--out", str(tiny_sweep), "--executor", "local"]) == 2  # x is an int
    assert not (tiny_sweep / "sweepy").exists()
    with pytest.raises(ValueError, match="executor"):
        run_sweep("sweepy", ["seed=0..1"], executor="slurm", out=tiny_sweep)
