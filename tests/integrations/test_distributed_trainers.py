"""The trainer callbacks under a real `torchrun --nproc_per_node 2` (gloo, CPU): Lightning's DDP strategy, its
ModelParallelStrategy (FSDP2, sharded over both ranks) and the HF Trainer under accelerate. Every rank watches,
rank 0 writes one store, and each stored per-layer gradient norm is the norm of the gradient the optimizer used
(the ranks' mean; a sharded one gathered whole), read by hand in the job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("lightning")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")
from dlcli.runs.run import load_run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB = os.path.join(ROOT, "tests", "integrations", "dist_trainers_job.py")


@pytest.mark.skipif(not torch.distributed.is_available() or shutil.which("torchrun") is None,
                    reason="torch.distributed and torchrun are needed")
def test_lightning_ddp_and_the_hf_trainer_under_accelerate(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           JOB, str(tmp_path)], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads((tmp_path / "seen.json").read_text())
    for name in ("lightning", "lightning-fsdp2", "hf"):
        run = load_run(str(tmp_path / f"{name}.db"))
        assert run.status == "finished" and run.config["world_size"] == 2
        assert [m.name for m in run.modules] == ["net.0", "net.2"]
        assert run.steps.tolist() == [1, 2, 3]
        for i, by_layer in enumerate(seen[name]):
            for j, layer in enumerate(("net.0", "net.2")):
                assert run.values["grad_norm"][i, j] == pytest.approx(by_layer[layer], rel=1e-6), (name, i, layer)
    assert not list(tmp_path.glob("*.db-*"))  # one store each, closed: no rank's own file or journal left
