"""Errors a newcomer meets in the first hour say what to do (issue 18): the sensors file, `import` of a folder and its
exit status, times given as a date, patterns, a time range the wrong way round."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support import url


@pytest.mark.parametrize("command", [("import", "x.bin"), ("serve",), ("list",)])
def test_a_missing_sensors_file_names_the_key_and_the_file(runner, tmp_path, command):
    missing = tmp_path / "nowhere" / "sensors.toml"
    result = runner(*command, env={"HYDROSERVE_SENSORS_FILE": str(missing)})
    assert result.exit_code == 2
    assert result.stderr.startswith("hydroserve: invalid configuration: sensors_file (from environment variable "
                                    "HYDROSERVE_SENSORS_FILE): ")
    assert str(missing) in result.stderr and "No such file" in result.stderr and "Traceback" not in result.stderr


def test_an_invalid_sensors_file_names_the_key_the_file_and_the_field(runner, tmp_path):
    broken = tmp_path / "sensors.toml"
    broken.write_text('[[sensor]]\nid = "DOM_1_CH1"\ntype = "whale"\n')
    config = tmp_path / "hydroserve.toml"
    config.write_text(f'sensors_file = "{broken}"\n')
    result = runner("--config", str(config), "import", "x.bin")
    assert result.exit_code == 2
    assert f"sensors_file (in {config}): {broken}: sensor[0].type: 'whale' must be one of" in result.stderr


def test_import_of_a_folder_imports_the_adf_files_in_it(runner, synthetic_files, tmp_path):
    files = synthetic_files(n_frames=8, frames_per_file=4, directory=tmp_path / "spool" / "2020" / "12")
    (tmp_path / "spool" / "README.txt").write_text("not ADF")
    by_folder = runner("import", "--json", str(tmp_path / "spool"))
    assert by_folder.exit_code == 0, by_folder.stderr
    assert len(by_folder.json()["packages_made"]) == 2 and by_folder.json()["input_problems"] == []
    by_files = runner("import", "--json", *map(str, files)).json()
    assert by_files["packages_made"] == [] and by_files["frames_already_archived"] == 8  # the same files: nothing new


def test_import_exits_non_zero_when_an_input_could_not_be_imported(runner, synthetic_files, tmp_path):
    good = synthetic_files(n_frames=8, frames_per_file=8)
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    result = runner("import", "--json", str(tmp_path / "DOM_1_CH1_1.bin"), str(empty_folder), *map(str, good))
    assert result.exit_code == 1
    assert len(result.json()["packages_made"]) == 2  # the rest was imported
    assert result.json()["input_problems"] == [f"{tmp_path / 'DOM_1_CH1_1.bin'}: no such file",
                                               f"{empty_folder}: a directory without ADF files (named "
                                               "DOM_<domid>_CH<n>_<unixtime>.bin)"]
    assert "2 input problem(s)" in result.stderr
    assert runner("import", *map(str, good)).exit_code == 0


@pytest.fixture
def two_packages(archived, synthetic_files):
    archived(synthetic_files(n_frames=8, frames_per_file=8))  # 2020-12-23T19:27:59Z ... 19:28:04Z: two 2 s packages


def test_a_date_alone_is_its_midnight_utc(client, two_packages):
    packages = url(client, "acoustic.Packages")
    as_date = client.get(packages, query_string={"start": "2020-12-23", "end": "2020-12-24"}).json["items"]
    as_time = client.get(packages, query_string={"start": "2020-12-23T00:00:00Z", "end": "2020-12-24T00:00:00Z"}).json["items"]
    assert len(as_date) == 2 and as_date == as_time
    assert client.get(packages, query_string={"start": "2020-12-24"}).json["items"] == []
    for endpoint, day in (("registry.Resources", "2020-12-23"), ("alerts.Alerts", "2025-01-01")):
        as_date = client.get(url(client, endpoint), query_string={"since": day})
        as_time = client.get(url(client, endpoint), query_string={"since": f"{day}T00:00:00Z"})
        assert as_date.status_code == 200 and as_date.json["items"] == as_time.json["items"], endpoint
    assert client.get(url(client, "registry.Resources"), query_string={"since": "2020-12-23"}).json["items"]


@pytest.mark.parametrize("value", ["2020-12-23T10:00", "yesterday", "2020-12"])
def test_a_time_that_is_neither_shows_the_forms_it_takes(client, value):
    problem = client.get(url(client, "acoustic.Packages"), query_string={"start": value}).json
    assert problem["status"] == 400
    assert "RFC 3339 with a zone, such as 2024-05-01T00:00:00Z, or a date, such as 2024-05-01" in problem["detail"]


def test_a_value_off_its_pattern_shows_the_pattern(client):
    problem = client.get(url(client, "acoustic.Packages"), query_string={"sensor": "DOM_12"}).json
    assert problem["status"] == 400 and problem["errors"]["query"]["sensor"] == [r"Must match the pattern ^DOM_\d{1,12}_CH\d{1,3}$."]
    problem = client.get(url(client, "alerts.Alerts"), query_string={"detector": "ANTARES!"}).json
    assert problem["status"] == 400 and "Must match the pattern ^" in problem["detail"]


def test_start_after_end_is_a_400_naming_both(client, two_packages):
    response = client.get(url(client, "acoustic.Packages"), query_string={"start": "2020-12-24", "end": "2020-12-23"})
    assert response.status_code == 400
    assert response.json["errors"]["query"]["end"] == [
        f"end ({datetime(2020, 12, 23, tzinfo=UTC).isoformat()}) must not be before start "
        f"({datetime(2020, 12, 24, tzinfo=UTC).isoformat()})."]
    same = client.get(url(client, "acoustic.Packages"), query_string={"start": "2020-12-23", "end": "2020-12-23"})
    assert same.status_code == 200 and same.json["items"] == []  # an empty range, not a reversed one
