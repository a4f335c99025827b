"""A manual Ray cluster with token authentication, started with the `ray` CLI as the README shows.

Ray (2.60 here) authenticates every gRPC call when a cluster runs with RAY_AUTH_MODE=token: a
node or driver without the head's token is refused with "InvalidAuthToken". This test starts a
head (`ray start --head`) and a worker (`ray start --address`) in their own process sessions,
each with its own HOME (standing in for separate machines) and its own --temp-dir, then checks:

* a worker started the way Ray's docs show, without the token, is refused (so auth is really on);
* `gantune tune --address` without the token fails with one line that names the fix;
* with the token (file on the worker, RAY_AUTH_TOKEN for the driver) a pool-mode run (the
  default) has a pool worker on each node, both training members of the run's one study.

It never runs `ray stop` (that kills every Ray process on the machine, including the embedded
Ray of other tests in the same session): the nodes are stopped by signalling exactly the
process sessions this test started, and the test fails if any of their processes is left.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import GANTUNE, ROOT, trial_results

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

_bin_ray = Path(sys.executable).parent / "ray"
RAY = [str(_bin_ray)] if _bin_ray.is_file() else [sys.executable, "-m", "ray.scripts.scripts"]

# Ray's connect window is ~20 attempts 1 s apart; a refused node or driver would spend it all
# retrying. This operator override (read in ray/_private/node.py) cuts it to one attempt, only
# for the processes that are expected to be refused.
FAST_REFUSAL = {"RAY_gcs_server_port_wait_time_s": "1"}
REFUSED = "InvalidAuthToken: Authentication token is missing or incorrect"


def _base_env(home: Path) -> dict[str, str]:
    """The environment of a separate machine: its own HOME, no Ray settings inherited from the
    pytest process (the session's embedded Ray sets RAY_AUTH_MODE there; RAY_ADDRESS could point
    anywhere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_AUTH_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), PYTHONUNBUFFERED="1", RAY_USAGE_STATS_ENABLED="0")
    return env


def _processes_with(markers: list[str]) -> list[tuple[int, str]]:
    """Live processes whose command line or environment contains one of the markers (the
    test's temp dir and HOMEs: every process a node starts inherits one or names one)."""
    found, wanted = [], [m.encode() for m in markers]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone, or not ours
            continue
        if state != "Z" and any(m in blob for m in wanted):
            found.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]))
    return found


def _wait_for(what: str, check, deadline: float, *, interval: float = 0.25):
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class Node:
    """`ray start ... --block` in a new process session, so it can be stopped by itself."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._fh = open(log, "w")
        self.proc = subprocess.Popen([*RAY, "start", *args, "--block"], stdout=self._fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self, deadline: float) -> None:
        def started():
            if self.proc.poll() is not None:
                raise AssertionError(f"ray start exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            return "Ray runtime started." in self.output()

        _wait_for(f"ray start ({self.log.name})", started, deadline)

    def stop(self) -> None:
        """SIGTERM to `ray start --block`, which then shuts its node's processes down (about 2 s;
        signalling the whole group at once instead stalled the shutdown for 30 s here), then
        SIGKILL to whatever is left of its process group."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self._fh.close()


@pytest.fixture
def token_head(tmp_path):
    """A head with token authentication on; yields (address, token, homes, start_node)."""
    # Ray's session directory holds AF_UNIX sockets (path limit 107 bytes): pytest's tmp_path is
    # too deep for it, so the nodes' --temp-dir is a short directory removed afterwards.
    temp_root = Path(tempfile.mkdtemp(prefix="gt-tok-", dir="/tmp"))
    homes = {name: tmp_path / f"home-{name}" for name in ("head", "worker", "driver", "stranger")}
    markers = [str(temp_root), *map(str, homes.values())]
    nodes: list[Node] = []
    deadline = time.monotonic() + 90

    def start_node(name: str, args: list[str], env: dict[str, str]) -> Node:
        node = Node([*args, "--temp-dir", str(temp_root / name)], env, tmp_path / f"{name}.log")
        nodes.append(node)
        return node

    try:
        head_env = _base_env(homes["head"])
        gen = subprocess.run([*RAY, "get-auth-token", "--generate"], capture_output=True, text=True, env=head_env, timeout=60)
        assert gen.returncode == 0, gen.stderr
        token = gen.stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{32,}", token), gen.stdout
        head_token = homes["head"] / ".ray" / "auth_token"
        assert head_token.read_text().strip() == token
        head_token.chmod(0o600)  # Ray writes it with the umask (0644 here); the README says chmod 600

        head = start_node("head", ["--head", "--port", "0", "--num-cpus", "1", "--include-dashboard", "false"], {**head_env, "RAY_AUTH_MODE": "token"})
        head.wait_started(deadline)
        # --port 0: Ray picks a free port and records "IP:PORT" in the temp dir.
        bootstrap = _wait_for("the head's address", lambda: (temp_root / "head" / "ray_current_cluster").is_file()
                              and (temp_root / "head" / "ray_current_cluster").read_text().strip(), deadline)
        address = f"127.0.0.1:{bootstrap.rsplit(':', 1)[1]}"
        yield address, token, homes, start_node
    finally:
        for node in reversed(nodes):
            node.stop()
        # A node's processes outside its process group (if any) get a moment to exit by themselves.
        try:
            _wait_for("the nodes' processes to exit", lambda: not _processes_with(markers), time.monotonic() + 15)
        except AssertionError:
            pass
        left = _processes_with(markers)
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp_root, ignore_errors=True)
        assert not left, f"processes of this test's Ray nodes were left running: {left}"


def test_token_auth_refuses_strangers_and_tune_uses_both_nodes(token_head, tmp_path):
    """Fault: a worker node and a driver without the head's token try to join a token-authenticated
    Ray 2.60 cluster. Both are refused (the driver with one line naming RAY_AUTH_MODE=token and
    RAY_AUTH_TOKEN, leaving no run directory); a worker given the token joins, and a run trains pool
    workers on both nodes that share one study."""
    address, token, homes, start_node = token_head
    deadline = time.monotonic() + 90

    # Refused: a worker started as Ray's docs show (no RAY_AUTH_MODE, no token on its machine),
    # and a driver without the token. Both run while the real worker starts.
    stranger = start_node("stranger", ["--address", address, "--num-cpus", "1"], {**_base_env(homes["stranger"]), **FAST_REFUSAL})
    no_token_driver = subprocess.Popen(
        [*GANTUNE, "tune", "--address", address, "--num-samples", "1", "--epochs", "2", "--storage-path", str(tmp_path / "refused"), "--name", "x"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**_base_env(homes["stranger"]), **FAST_REFUSAL}, start_new_session=True,
    )

    try:
        # Accepted: the head's token copied to the worker's ~/.ray/auth_token, and RAY_AUTH_MODE=token.
        worker_token = homes["worker"] / ".ray" / "auth_token"
        worker_token.parent.mkdir(parents=True)
        shutil.copy2(homes["head"] / ".ray" / "auth_token", worker_token)  # as scp -p would
        worker = start_node("worker", ["--address", address, "--num-cpus", "1"], {**_base_env(homes["worker"]), "RAY_AUTH_MODE": "token"})

        def stranger_done():
            assert "Ray runtime started." not in stranger.output(), "a worker without the token joined the cluster"
            return stranger.proc.poll() is not None

        _wait_for("the worker without the token to be refused", stranger_done, deadline)
        assert stranger.proc.returncode != 0
        assert REFUSED in stranger.output(), stranger.output()[-3000:]

        try:
            out, err = no_token_driver.communicate(timeout=max(1.0, deadline + 30 - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail("gantune without the token neither connected nor failed")
        assert no_token_driver.returncode == 2, out[-2000:] + err[-2000:]
        errors = [line for line in err.splitlines() if line.startswith("gantune: error:")]
        assert len(errors) == 1 and "RAY_AUTH_MODE=token" in errors[0] and "RAY_AUTH_TOKEN" in errors[0], err[-2000:]
        assert "Traceback" not in err
        assert not (tmp_path / "refused" / "x").exists()
    finally:  # on any failure above, the refused driver must not outlive the test
        if no_token_driver.poll() is None:
            os.killpg(no_token_driver.pid, signal.SIGKILL)
            no_token_driver.communicate()

    driver_env = {**_base_env(homes["driver"]), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    # `ray start` prints this only after the node is registered with the head's GCS. The refused
    # worker failed at its first GCS call, before starting any process, so it never joined.
    worker.wait_started(deadline)

    # Two pool workers (one CPU each, one per node) of 2 slots for 4 configurations, no
    # pruning: a worker holds its 2 members until they finish (20,000 steps, tens of seconds),
    # long past the other worker's start-up, so both workers train members whatever the start-up
    # order. (At 3,000 steps a fresh-clone run on a quiet machine had one worker finish its two and
    # take the other two before the second worker started.)
    proc = subprocess.run(
        [*GANTUNE, "tune", "--address", address, "--num-samples", "4", "--steps", "20000", "--pack", "2", "--max-concurrent", "2",
         "--scheduler", "none", "--storage-path", str(tmp_path), "--name", "n"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=driver_env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = trial_results(tmp_path / "n")
    assert len(results) == 2  # the pool workers
    worker_nodes = {name: r[-1]["node_id"] for name, r in results.items()}
    assert len(set(worker_nodes.values())) == 2, worker_nodes
    # One study for the run: every configuration told once, by workers on both nodes.
    from tuning.options import read_options
    from tuning.records import pool_records

    records = pool_records(tmp_path / "n", read_options(tmp_path / "n"))
    assert sorted(r.status for r in records) == ["completed"] * 4
    assert {(r.last["pool"], r.last["node_id"]) for r in records} == set(worker_nodes.items())
