"""`make bench` still works: the driver completes real sign-ins against gunicorn, without failures.

Correctness only (flows complete, none fail, SQL counting works); no figure is asserted.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_completes_sign_ins_without_failures(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    run = next(iter(results["runs"].values()))  # the SQLite run
    flows = run["flows"]["c1"]
    assert flows["completed"] >= 1
    assert flows["failures"] == 0, flows["failure_reasons"]
    assert run["counting_pass"]["completed"] >= 1 and run["counting_pass"]["failures"] == 0
    assert set(run["sql_per_step"]) == {"login_page", "password", "verify_page", "totp", "protected", "logout"}
    assert run["bare"]["c1"]["completed"] >= 1 and run["bare"]["c1"]["failures"] == 0
    assert "growth" not in run
