"""Run the README's shell examples against a live ``hydroserve demo``, so the README cannot drift.

Every fenced block whose info string is ``sh``, ``bash`` or ``console`` is run, in the order of the README, in one
shell session (``bash`` or ``zsh``; variables set by one command are seen by the next), from a working directory
that looks like a fresh checkout after ``make demo``: ``.venv`` (this interpreter's environment) and ``samples``
(the repository's) are linked into it, the demo's data folder is ``demo-data`` in it. A block is left out when its
info string has a second word ``not-run`` (```` ```sh not-run ````); the README says beside each why (a production
machine, a command that runs for ever). In ``console`` blocks only the lines after a ``$ `` prompt are commands.

Checks, per command: its exit status is 0 (the shell runs with ``set -e`` and ``pipefail``) and every HTTP answer
curl receives has the status the command's comment documents as ``HTTP <code>``: the first code named is what a
fresh demo answers; further codes (``the same post again: HTTP 200``) are what a repeated run may answer. A
command whose comment names no code must get only 2xx and 3xx answers. The demo's address ``127.0.0.1:8000`` in
the commands is replaced by the running demo's.

``python tests/readme_examples.py [--shell bash] [--shell zsh]`` starts a demo on a free port, runs the examples
and prints what failed (the test ``tests/test_demo.py`` does the same).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPOSITORY = Path(__file__).resolve().parent.parent
README = REPOSITORY / "README.md"
SHELL_INFO = ("sh", "bash", "console")
NOT_RUN = "not-run"
README_ADDRESS = "127.0.0.1:8000"
STATUS = re.compile(r"\bHTTP (\d{3})\b")
MARK = "readme-example"
STATUS_LINE = "readme-http-status"


@dataclass(frozen=True)
class Command:
    line: int  # in the README, 1-based
    text: str  # as written (continuation lines joined with their backslashes)
    documented: tuple[int, ...]  # HTTP statuses named in the comment, the fresh demo's first

    def accepts(self, status: int, *, repeated: bool) -> bool:
        if not self.documented:
            return 200 <= status < 400
        return status in self.documented if repeated else status == self.documented[0]


@dataclass
class Failure:
    command: Command
    reason: str
    output: str = ""

    def __str__(self) -> str:
        return f"README.md line {self.command.line}: {self.command.text}\n  {self.reason}\n{_indent(self.output)}"


@dataclass
class Outcome:
    ran: list[Command] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def commands(readme: str) -> list[Command]:
    """The commands of the README's runnable shell blocks, in order."""
    found: list[Command] = []
    lines = readme.splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^```(\S*)\s*(.*)$", lines[index])
        index += 1
        if not fence or not fence.group(1):
            continue
        body_start = index
        while index < len(lines) and not lines[index].startswith("```"):
            index += 1
        body, index = lines[body_start:index], index + 1
        if fence.group(1) in SHELL_INFO and NOT_RUN not in fence.group(2).split():
            found += _block_commands(body, body_start + 1, console=fence.group(1) == "console")
    return found


def _block_commands(body: list[str], first_line: int, *, console: bool) -> Iterator[Command]:
    pending: list[str] = []
    start = first_line
    for number, raw_line in enumerate(body, first_line):
        line = raw_line
        if not pending:
            if console:
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = number
        pending.append(line)
        if _code(line).rstrip().endswith("\\"):
            continue
        text = "\n".join(pending)
        yield Command(start, text, tuple(int(code) for code in STATUS.findall(" ".join(_comment(p) for p in pending))))
        pending = []


def _split_comment(line: str) -> tuple[str, str]:
    """A shell line's code and its trailing comment (a ``#`` at a word's start, outside quotes)."""
    quote = None
    for position, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1] in " \t"):
            return line[:position], line[position:]
    return line, ""


def _code(line: str) -> str:
    return _split_comment(line)[0]


def _comment(line: str) -> str:
    return _split_comment(line)[1]


def script(found: list[Command], address: str) -> str:
    """One shell script running every command, each announced on stdout and stderr by a numbered mark."""
    parts = ["set -e", "set -o pipefail"]
    for number, command in enumerate(found):
        parts.append(f"printf '\\n{MARK} {number}\\n'; printf '\\n{MARK} {number}\\n' >&2")
        parts.append(command.text.replace(README_ADDRESS, address))
    parts.append(f"printf '\\n{MARK} end\\n'; printf '\\n{MARK} end\\n' >&2")
    return "\n".join(parts) + "\n"


def _by_command(text: str) -> dict[str, str]:
    """Output split at the marks: command number (or "end") -> what it printed."""
    pieces = re.split(rf"^{MARK} (\d+|end)$", text, flags=re.M)
    return {pieces[i]: pieces[i + 1].strip("\n") for i in range(1, len(pieces) - 1, 2)}


def run(found: list[Command], shell: str, workdir: Path, address: str, *, repeated: bool = False,
        timeout_s: float = 600.0) -> Outcome:
    """Run the commands in ``shell`` from ``workdir`` against the demo at ``address``; collect what failed."""
    curl_home = workdir / ".readme-curl"
    curl_home.mkdir(exist_ok=True)
    # every curl also writes each answer's status to stderr; a README command's own --write-out would override it
    (curl_home / ".curlrc").write_text(f'write-out = "%{{stderr}}\\n{STATUS_LINE} %{{http_code}}\\n"\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("HYDROSERVE_")}  # a fresh shell
    env.update(CURL_HOME=str(curl_home), PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run([shell], input=script(found, address), cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    stdout, stderr = _by_command(done.stdout), _by_command(done.stderr)
    outcome = Outcome()
    for number, command in enumerate(found):
        key = str(number)
        if key not in stderr:
            break
        outcome.ran.append(command)
        output = f"{stdout.get(key, '')}\n{stderr[key]}".strip("\n")
        statuses = [int(code) for code in re.findall(rf"^{STATUS_LINE} (\d{{3}})$", stderr[key], flags=re.M)]
        wrong = [status for status in statuses if not command.accepts(status, repeated=repeated)]
        if wrong:
            expected = command.documented or "2xx or 3xx"
            outcome.failures.append(Failure(command, f"HTTP status {wrong} where the README documents {expected}", output))
        if command.documented and not statuses:
            outcome.failures.append(Failure(command, f"documents HTTP {command.documented[0]}, but made no request", output))
        if str(number + 1) not in stderr and "end" not in stderr:
            outcome.failures.append(Failure(command, f"{shell} stopped here with exit status {done.returncode}", output))
    if not outcome.ran and found:  # the shell failed before the first command (e.g. an option it lacks)
        outcome.failures.append(Failure(found[0], f"{shell} exited with {done.returncode} before it", done.stderr))
    return outcome


def _indent(text: str) -> str:
    return "\n".join(f"    | {line}" for line in text.splitlines()[-40:])


def free_port() -> int:
    # support.free_port's twin: this script runs outside the test session, without support's imports (numpy, flask)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checkout(workdir: Path) -> Path:
    """A working directory that looks like a fresh clone after ``make demo``: ``.venv`` and ``samples`` linked."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / ".venv").symlink_to(Path(sys.prefix))
    (workdir / "samples").symlink_to(REPOSITORY / "samples")
    return workdir


# as a shell starts a script's background job (`hydroserve demo &`): SIGINT ignored, and inherited so through exec
IGNORING_SIGINT = ("sh", "-c", 'trap "" INT; exec "$0" "$@"')


@dataclass(frozen=True)
class Demo:
    address: str  # host:port
    process: subprocess.Popen
    output: Path  # what it printed on stdout (its addresses and write token); its log (stderr) is demo-log.txt beside it


@contextmanager
def live_demo(workdir: Path, *, hang_guard_s: float = 300.0, stop_signal: int = signal.SIGINT,
              launcher: tuple[str, ...] = ()) -> Iterator[Demo]:
    """``hydroserve demo`` in ``workdir`` (its data in ``workdir/demo-data``) on a free port, once it lists a
    package; stopped by ``stop_signal`` (SIGINT: as Ctrl-C stops it) when the block ends. ``launcher``: a command
    that runs the demo's command line it is given (e.g. :data:`IGNORING_SIGINT`)."""
    address = f"127.0.0.1:{free_port()}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HYDROSERVE_")}
    env.update(HYDROSERVE_BIND=address, HYDROSERVE_LOG_LEVEL="WARNING")
    output = workdir / "demo-output.txt"
    with open(output, "w") as out, open(workdir / "demo-log.txt", "w") as log:
        demo = subprocess.Popen([*launcher, sys.executable, "-m", "hydroserve.api.cli", "demo"], cwd=workdir, env=env,
                                stdout=out, stderr=log, start_new_session=True)
    try:
        guard = time.monotonic() + hang_guard_s  # not a speed goal: only a demo that never lists a package stops it
        while True:
            if demo.poll() is not None:
                raise RuntimeError(f"hydroserve demo exited with {demo.returncode}")
            if time.monotonic() > guard:
                raise RuntimeError(f"hydroserve demo listed no package in {hang_guard_s} s")
            try:
                if requests.get(f"http://{address}/api/v1/packages?limit=1", timeout=10).json()["items"]:
                    break
            except (requests.ConnectionError, requests.Timeout, ValueError):  # not listening yet, or a worker booting
                pass
            time.sleep(0.2)
        yield Demo(address, demo, output)
    finally:
        if demo.poll() is None:
            demo.send_signal(stop_signal)
            try:  # a hang guard, not a speed goal: the demo itself gives its server 60 s and each of its threads 10 s
                demo.wait(timeout=hang_guard_s)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)  # its API server too, which would outlive it
                demo.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shell", action="append", help="bash, zsh (repeatable; default: bash, then zsh if installed)")
    args = parser.parse_args(argv)
    shells = args.shell or ["bash"] + (["zsh"] if shutil.which("zsh") else [])
    found = commands(README.read_text())
    failed = False
    with tempfile.TemporaryDirectory(prefix="readme-examples-") as folder:
        workdir = checkout(Path(folder) / "checkout")
        with live_demo(workdir) as demo:
            for index, shell in enumerate(shells):
                outcome = run(found, shell, workdir, demo.address, repeated=index > 0)
                print(f"{shell}: {len(outcome.ran)} of {len(found)} commands ran, {len(outcome.failures)} failed")
                for failure in outcome.failures:
                    print(failure)
                failed = failed or bool(outcome.failures) or len(outcome.ran) < len(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
