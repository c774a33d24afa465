"""dlcli.watch under a real `torchrun --nproc_per_node 2` (gloo, CPU): DDP and FSDP2, an MLP and a small
transformer, against a plain single-process loop on the same global batch written out here; a shard's own norm
(the √shards bug) fails the same comparison; a rank killed mid-run leaves a readable store that says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import dist_job  # noqa: E402

from dlcli.runs.report import load_report  # noqa: E402
from dlcli.runs.run import load_run  # noqa: E402
from dlcli.runs.views import status_text  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB = os.path.join(ROOT, "tests", "runs", "dist_job.py")

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or shutil.which("torchrun") is None,
                                reason="torch.distributed and torchrun are needed")


def torchrun(out, *extra, timeout=120):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--standalone", JOB, str(out), *extra],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=out)


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = torchrun(out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def row_weights(module):
    """A row's weights as dlcli defines them: its own parameters named like a weight, else all its own."""
    own = [(k, p) for k, p in module._parameters.items() if p is not None]
    return [p for k, p in own if "weight" in k] or [p for _, p in own]


def reference(net):
    """The plain loop on one process and the whole global batch: per row and sampled step, ‖∂W‖ and
    ‖W_after − W_before‖ / ‖W_before‖."""
    model = dist_job.build(net)
    opt = torch.optim.SGD(model.parameters(), lr=dist_job.LR, momentum=0.9)
    rows = [(n or type(m).__name__, m) for n, m in model.named_modules()
            if any(p is not None for p in m._parameters.values())]
    figures = {}
    for step in range(1, dist_job.STEPS + 1):
        x, y = dist_job.batch(net, step)
        loss = dist_job.loss_of(net, model(x), y)
        opt.zero_grad()
        loss.backward()
        before = {name: [w.detach().clone() for w in row_weights(m)] for name, m in rows}
        grads = {name: torch.linalg.vector_norm(torch.cat([w.grad.reshape(-1) for w in row_weights(m)])).item()
                 for name, m in rows}
        opt.step()
        if (step - 1) % dist_job.EVERY == 0:
            for name, m in rows:
                moved = torch.cat([(w.detach() - b).reshape(-1) for w, b in
                                   zip(row_weights(m), before[name], strict=True)])
                start = torch.cat([b.reshape(-1) for b in before[name]])
                figures[step, name] = (grads[name], (moved.norm() / start.norm()).item())
    return figures


def stored(path, metric):
    run = load_run(str(path))
    j = {m.name: k for k, m in enumerate(run.modules)}
    return {(int(s), name): run.values[metric][i, k] for i, s in enumerate(run.steps) for name, k in j.items()}


@pytest.mark.parametrize("kind,net", dist_job.CASES)
def test_every_logged_norm_and_update_ratio_equal_one_process(job, kind, net):
    ref = reference(net)
    grads, ratios = stored(job / f"{kind}-{net}.db", "grad_norm"), stored(job / f"{kind}-{net}.db", "update_ratio")
    assert sorted(grads) == sorted(ref)  # the same rows (DDP's wrapper and fully_shard's classes named as the model)
    for key, (grad, ratio) in ref.items():
        assert grads[key] == pytest.approx(grad, rel=1e-9, abs=1e-15), key
        assert ratios[key] == pytest.approx(ratio, rel=1e-9, abs=1e-15), key


def test_a_shard_local_norm_fails_the_same_comparison(job):
    """What tools that took each rank's shard norm logged: ≈ 1/√2 of the true norm here, and far outside 1e-9."""
    local = json.loads((job / "job.json").read_text())["shard_local_norms"]
    for net in ("mlp", "transformer"):
        ref = reference(net)
        model = dist_job.build(net)
        wrong = 0
        for name, m in model.named_modules():
            for key, p in m._parameters.items():
                if p is None or key != "weight" or (1, name or type(model).__name__) not in ref:
                    continue
                if len(row_weights(m)) == 1:
                    truth = ref[1, name][0]
                    shard = local[net][f"{name}.{key}"]
                    assert shard != pytest.approx(truth, rel=1e-9)
                    wrong += 1
        assert wrong >= 3


def test_a_sampled_step_adds_one_all_reduce_and_no_other_step_any(job):
    """5 steps sampled at 1, 3 and 5: three all-reduces in all (DDP's and FSDP's own collectives are not
    Python-level all_reduce calls)."""
    assert json.loads((job / "job.json").read_text())["all_reduce_calls"] == {f"{k}-{n}": 3 for k, n in dist_job.CASES}


def test_the_run_records_world_size_parallelism_and_the_collective(job):
    run = load_run(str(job / "fsdp-mlp.db"))
    assert run.config["world_size"] == 2 and run.status == "finished"
    assert [m.type for m in run.modules] == ["Linear", "Linear", "Linear"]
    assert run.config["parallelism"]["0"] == "Shard(dim=0) on a mesh of 2"
    ddp = load_run(str(job / "ddp-transformer.db"))
    assert set(ddp.config["parallelism"].values()) == {"replicated"}
    assert int(ddp.meta["sample_all_reduce_bytes"]) > 0
    # MLP: 3 rows × 12 sums, 12 tanh + 10 relu units, 6 tensors' non-finite flags, 2 ranks × (3 rows × 2 maxima + 1)
    assert int(load_run(str(job / "ddp-mlp.db")).meta["sample_all_reduce_bytes"]) == 8 * (36 + 22 + 6 + 2 * 7)


def test_activation_statistics_cover_every_ranks_examples(job):
    """Mean and std of tanh's output over the global batch, and relu's dead units over it, from the plain model."""
    model = dist_job.build("mlp")
    run = load_run(str(job / "ddp-mlp.db"))
    x, _ = dist_job.batch("mlp", 1)
    with torch.no_grad():
        a = torch.tanh(model[0](x))
        r = torch.relu(model[2](a))
    j = [m.name for m in run.modules]
    assert run.values["act_mean"][0, j.index("0")] == pytest.approx(a.mean().item(), rel=1e-9)
    assert run.values["act_std"][0, j.index("0")] == pytest.approx(a.std(unbiased=False).item(), rel=1e-9)
    assert run.values["act_absmax"][0, j.index("2")] == pytest.approx(r.abs().max().item(), rel=1e-12)
    dead = (r.amax(0) == 0).double().mean().item()
    assert run.values["dead_frac"][0, j.index("2")] == pytest.approx(dead, abs=1e-12)


def test_a_rank_killed_mid_run_leaves_a_readable_store_saying_so(tmp_path):
    done = torchrun(tmp_path, "kill")
    assert done.returncode != 0
    run = load_run(str(tmp_path / "ddp-mlp.db"))
    # rank 0 sees its peer's connection close (an exception: "failed"), or torchrun's SIGTERM ends it first
    assert run.status in ("failed", "running") and list(run.steps) == [1, 3]
    assert status_text(load_report(str(tmp_path / "ddp-mlp.db")), idle=3600).endswith(
        ("the run did not finish", "the process may have died)"))
    assert np.isfinite(run.values["grad_norm"]).all()
