"""Start or stop the local Tryton ERP that the Tryton target is tested against (`make tryton`, `make tryton-stop`).

start: build the initialised SQLite database once (cached under .tryton/cache/, keyed by the setup inputs and the
fiscal years around today, so a new year builds a new one), copy it to a fresh working database, serve JSON-RPC on
127.0.0.1:$TRYTON_PORT (8000) in the background, wait until it answers. stop: end the server recorded in
.tryton/trytond.pid.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from setup_db import fiscal_years  # this folder is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STATE = Path(os.environ.get("TRYTON_STATE_DIR", ROOT / ".tryton"))
DATABASE = os.environ.get("TRYTON_DATABASE", "o2c")
PORT = int(os.environ.get("TRYTON_PORT", "8000"))
PID_FILE = STATE / "trytond.pid"
SETUP_INPUTS = [HERE / "setup_db.py", HERE / "trytond.conf.template", ROOT / "requirements-tryton.txt"]


def cache_key(years: tuple[int, ...]) -> str:
    digest = hashlib.sha256()
    for path in SETUP_INPUTS:
        digest.update(path.read_bytes())
    digest.update(",".join(map(str, years)).encode())
    return digest.hexdigest()[:16]


def write_config(db_dir: Path, target: Path) -> Path:
    text = (HERE / "trytond.conf.template").read_text(encoding="utf-8")
    target.write_text(text.replace("@DB_DIR@", str(db_dir)).replace("@PORT@", str(PORT)), encoding="utf-8")
    return target


def cached_database() -> Path:
    """The initialised database for the current setup inputs and fiscal years, built (about 30 s) when missing."""
    years = fiscal_years()  # computed once: the key and the database built must name the same years
    cache = STATE / "cache" / f"{DATABASE}-{cache_key(years)}.sqlite"
    if cache.exists():
        return cache
    build = STATE / "build"
    shutil.rmtree(build, ignore_errors=True)
    (build / "db").mkdir(parents=True)
    config = write_config(build / "db", build / "trytond.conf")
    print(f"tryton: initialising database {DATABASE} (cached afterwards)", flush=True)
    subprocess.run(
        [
            sys.executable,
            str(HERE / "setup_db.py"),
            "--config",
            str(config),
            "--database",
            DATABASE,
            "--fiscal-years",
            ",".join(map(str, years)),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    for old in cache.parent.glob(f"{DATABASE}-*.sqlite"):
        old.unlink()
    os.replace(build / "db" / f"{DATABASE}.sqlite", cache)
    shutil.rmtree(build, ignore_errors=True)
    return cache


def running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text().strip())
        # After a reboot the recorded pid may belong to another program: only ever signal our trytond.
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid if b"trytond" in command else None


def answers() -> bool:
    body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/rpc/", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - fixed loopback URL
            return "result" in json.loads(response.read())
    except (OSError, ValueError):
        return False


def start() -> None:
    stop(quiet=True)
    cache = cached_database()
    db_dir = STATE / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    for stale in db_dir.glob(f"{DATABASE}.sqlite*"):  # includes -wal/-journal leftovers
        stale.unlink()
    shutil.copyfile(cache, db_dir / f"{DATABASE}.sqlite")
    config = write_config(db_dir, STATE / "trytond.conf")
    trytond = Path(sys.executable).with_name("trytond")
    log = (STATE / "trytond.log").open("ab")
    process = subprocess.Popen(
        [str(trytond), "-c", str(config), "-d", DATABASE],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives make's shell; stopped by pid with `make tryton-stop`
    )
    PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"tryton: server exited with {process.returncode}; see {STATE / 'trytond.log'}")
        if answers():
            print(f"tryton: JSON-RPC on http://127.0.0.1:{PORT}/{DATABASE}/ (pid {process.pid})", flush=True)
            return
        time.sleep(0.3)
    stop()
    raise SystemExit("tryton: server did not answer within 60 s")


def stop(quiet: bool = False) -> None:
    pid = running_pid()
    if pid is None:
        PID_FILE.unlink(missing_ok=True)
        if not quiet:
            print("tryton: not running", flush=True)
        return
    os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    if not quiet:
        print(f"tryton: stopped (pid {pid})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status", "build"])
    args = parser.parse_args()
    STATE.mkdir(parents=True, exist_ok=True)
    if args.action == "start":
        start()
    elif args.action == "stop":
        stop()
    elif args.action == "build":
        print(cached_database())
    else:
        pid = running_pid()
        print(f"tryton: running (pid {pid})" if pid and answers() else "tryton: not running")
        sys.exit(0 if pid else 1)


if __name__ == "__main__":
    main()
