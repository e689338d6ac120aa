"""`hydroserve demo` serves every product of its first package, and the README's shell examples work against it as
written, in bash and zsh (tests/readme_examples.py)."""

from __future__ import annotations

import shutil
import signal

import pytest
import requests

import readme_examples
from readme_examples import IGNORING_SIGINT, Command, checkout, commands, live_demo, run

pytestmark = pytest.mark.slow

MEDIA = {"raw": "application/km3net-acoustic", "wav": "audio/wav", "mp3": "audio/mpeg", "psd": "application/json",
         "info": "application/json"}
needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (apt install zsh)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = checkout(tmp_path_factory.mktemp("readme") / "checkout")
    with live_demo(workdir) as running:
        yield running
    _assert_stopped_cleanly(running)


def _assert_stopped_cleanly(running) -> None:
    log = (running.output.parent / "demo-log.txt").read_text()
    assert running.process.returncode == 0, f"the demo did not stop cleanly:\n{log[-3000:]}"
    assert "did not stop within" not in log, log[-3000:]  # a part killed or left running counts too


def _stopped_cleanly(workdir, **how) -> None:
    with live_demo(checkout(workdir), **how) as running:
        pass
    _assert_stopped_cleanly(running)


def test_the_demo_stops_on_sigterm(tmp_path):
    _stopped_cleanly(tmp_path / "checkout", stop_signal=signal.SIGTERM)


def test_the_demo_stops_on_ctrl_c_when_started_as_a_background_job(tmp_path):
    # IGNORING_SIGINT starts Python with SIGINT ignored: test_stop_signals asserts it
    _stopped_cleanly(tmp_path / "checkout", launcher=IGNORING_SIGINT)


def test_demo_serves_every_product_of_its_first_package_and_prints_its_write_token(demo):
    url = f"http://{demo.address}"
    [first] = requests.get(f"{url}/api/v1/packages?limit=1", timeout=10).json()["items"]
    for kind, media_type in MEDIA.items():
        response = requests.get(first["links"][kind], timeout=30)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(media_type), kind
        if kind in first["products"]:
            assert len(response.content) == first["products"][kind]["size_bytes"]
    assert requests.get(f"{url}/api/v1/events/tables/synthetic_arca_2023", timeout=10).json()["n_rows"] == 3000
    assert requests.get(f"{url}/api/v1/alerts", timeout=10).json()["items"][-1]["event_id"] == "ORCA24-0114-00873"
    printed = demo.output.read_text()
    assert f"{url}/api/v1/packages" in printed and "hydroserve-demo-token" in printed
    refused = requests.post(f"{url}/api/v1/alerts", json={}, headers={"Authorization": "Bearer wrong"}, timeout=10)
    accepted_token = requests.post(f"{url}/api/v1/alerts", json={}, timeout=10,
                                   headers={"Authorization": "Bearer hydroserve-demo-token"})
    assert (refused.status_code, accepted_token.status_code) == (403, 422)  # the printed token passes, the body does not


def test_the_readme_examples_work_in_bash_against_a_fresh_demo(demo):
    found = commands(readme_examples.README.read_text())
    assert sum(1 for command in found if command.documented) >= 3  # the POST examples document their statuses
    outcome = run(found, "bash", demo.output.parent, demo.address)
    assert not outcome.failures, "\n".join(map(str, outcome.failures))
    assert outcome.ran == found


@needs_zsh
def test_the_readme_examples_work_in_zsh_run_again(demo):
    found = commands(readme_examples.README.read_text())
    outcome = run(found, "zsh", demo.output.parent, demo.address, repeated=True)
    assert not outcome.failures, "\n".join(map(str, outcome.failures))
    assert outcome.ran == found


BROKEN = """
Text.

```sh
curl -s http://127.0.0.1:8000/api/v1/no-such-thing
curl -s 'http://127.0.0.1:8000/api/v1/sensors'   # HTTP 404
curl -s 'http://127.0.0.1:8000/api/v1/sensors' \\
     -o /dev/null       # HTTP 200
false
curl -s 'http://127.0.0.1:8000/api/v1/sensors'
```

```sh not-run
make demo
```

```console
$ echo one   # HTTP 200
one
```
"""


def test_the_examples_are_read_as_documented():
    found = commands(BROKEN)
    assert [(c.line, c.documented) for c in found] == [(5, ()), (6, (404,)), (7, (200,)), (9, ()), (10, ()), (18, (200,))]
    assert found[2].text == "curl -s 'http://127.0.0.1:8000/api/v1/sensors' \\\n     -o /dev/null       # HTTP 200"
    assert Command(1, "x", (201, 200)).accepts(200, repeated=True) and not Command(1, "x", (201, 200)).accepts(200, repeated=False)


def test_a_broken_command_fails_clearly_naming_its_line(demo):
    outcome = run(commands(BROKEN), "bash", demo.output.parent, demo.address)
    failures = {failure.command.line: failure.reason for failure in outcome.failures}
    assert [command.line for command in outcome.ran] == [5, 6, 7, 9]  # bash stops at `false`
    assert failures == {5: "HTTP status [404] where the README documents 2xx or 3xx",
                        6: "HTTP status [200] where the README documents (404,)",
                        9: "bash stopped here with exit status 1"}
    assert "README.md line 9: false" in str(outcome.failures[-1])


@needs_zsh
def test_an_unquoted_question_mark_fails_in_zsh(demo):
    example = "```sh\ncurl -s http://127.0.0.1:8000/api/v1/packages?limit=2\n```\n"
    assert not run(commands(example), "bash", demo.output.parent, demo.address).failures
    [failure] = run(commands(example), "zsh", demo.output.parent, demo.address).failures
    assert "zsh stopped here" in failure.reason and "no matches found" in failure.output
