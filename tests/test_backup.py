"""Backup and restore: ``hydroserve export`` then ``import-archive`` into a fresh data folder (on the other kind of
catalog: SQLite to PostgreSQL and back) gives every product, blob, resource, tombstone and alert back, bit for bit."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from hydroserve.acoustics import catalog
from hydroserve.acoustics.blobstore import LocalBlobStore
from hydroserve.api import schema, wiring
from hydroserve.api.app import create_app
from hydroserve.api.config import load_settings
from hydroserve.api.db import writer
from hydroserve.api.demo import publish_samples
from hydroserve.codecs.raw import SensorId
from support import SENSOR_STATE, url

OLD, NEW = "DOM_808956920_CH1_1608751680", "DOM_808956920_CH1_1608751682"


def snapshot(settings) -> dict:
    """Every row of every catalog table (outbox ids and all), as comparable values."""
    engine = wiring.open_existing_catalog(settings)
    rows = {}
    with engine.connect() as conn:
        for metadata in schema.METADATAS:
            for table in metadata.sorted_tables:
                found = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings().all()
                rows[table.name] = [{k: (v.astimezone(UTC) if isinstance(v, datetime) and v.tzinfo else
                                         v.replace(tzinfo=UTC) if isinstance(v, datetime) else v) for k, v in r.items()}
                                    for r in found]
    engine.dispose()
    return rows


def blob_hashes(settings, keys) -> dict:
    blobs = LocalBlobStore(settings.blob_dir)
    return {key: hashlib.sha256(blobs.open(key).read()).hexdigest() for key in keys}


@pytest.fixture
def other_catalog(request, database_url, tmp_path, postgres):
    """A fresh catalog of the other kind than the test's: SQLite -> PostgreSQL, PostgreSQL -> SQLite."""
    if database_url.startswith("sqlite"):
        restored_url = postgres.create_database()
        yield restored_url
        postgres.drop_database(restored_url)
    else:
        yield f"sqlite:///{tmp_path / 'restored' / 'catalog.sqlite'}"


def test_export_then_import_into_a_fresh_data_folder_gives_every_product_back(
        settings, archived, synthetic_files, runner, client, app, other_catalog, tmp_path):
    archived(synthetic_files(n_frames=8))
    engine = wiring.open_existing_catalog(settings)
    publish_samples(settings, engine)  # an event table (blobs) and an alert (a binary VOEvent packet)
    with writer(engine).begin() as conn:
        conn.execute(update(catalog.packages).where(catalog.packages.c.package_id == OLD)
                     .values(created_at=datetime.now(UTC) - timedelta(days=40)))
    engine.dispose()
    assert runner("retention", env={"HYDROSERVE_RETENTION_DAYS": "samples=30"}).exit_code == 0  # tombstones are kept too
    assert client.get(url(app, "pictures.SpectrogramPng", package_id=NEW)).status_code == 200  # a derived file
    original = snapshot(settings)

    backup_dir = tmp_path / "backup"
    exported = runner("export", str(backup_dir))
    assert exported.exit_code == 0, exported.stderr
    assert not (tmp_path / "backup.partial").exists()
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["catalog_id"] == original["catalog_identity"][0]["catalog_id"]
    assert manifest["tables"]["packages"] == 2 and manifest["tables"]["expired_products"] == 3  # raw, wav, flac
    keys = set(manifest["blobs"])
    assert any(".spectrogram." in key for key in keys)
    assert not any(key.endswith(f"{OLD}.flac") for key in keys) and any(key.endswith(f"{NEW}.flac") for key in keys)
    assert blob_hashes(settings, keys) == {key: blob["sha256"] for key, blob in manifest["blobs"].items()}
    assert runner("export", str(backup_dir)).exit_code == 1  # never over an existing backup

    restored_env = {"HYDROSERVE_DATA_DIR": str(tmp_path / "restored"), "HYDROSERVE_DATABASE_URL": other_catalog,
                    "HYDROSERVE_SPOOL_DIR": str(tmp_path / "restored" / "spool")}
    result = runner("import-archive", str(backup_dir), env=restored_env)
    assert result.exit_code == 0, result.stderr
    restored = load_settings(env={}, data_dir=str(tmp_path / "restored"), database_url=other_catalog,
                             snippet_duration_s="2", snippet_interval_s=2)
    assert snapshot(restored) == original  # every row: packages, products (sha256), resources, tombstones, outbox, alerts
    assert blob_hashes(restored, keys) == blob_hashes(settings, keys)
    verified = runner("verify", "--json", env=restored_env)
    assert verified.exit_code == 0 and verified.json()["ok"] == len(keys) and not verified.json()["missing"]

    restored_app = create_app(restored)
    with restored_app.test_client() as restored_client:
        wav = restored_client.get(url(restored_app, "acoustic.Wav", package_id=NEW))
        products = {p["kind"]: p["sha256"] for p in original["products"] if p["package_id"] == NEW}
        assert wav.status_code == 200 and hashlib.sha256(wav.data).hexdigest() == products["wav"]
        assert restored_client.get(url(restored_app, "acoustic.Wav", package_id=OLD)).status_code == 410

    again = runner("import-archive", str(backup_dir), env=restored_env)
    assert again.exit_code == 1 and "not empty" in again.stderr
    more = synthetic_files(SensorId(808974724, 1), n_frames=4, directory=tmp_path / "more")
    grown = runner("import", "--json", *map(str, more), env=restored_env)  # the restored archive goes on (outbox ids too)
    assert grown.exit_code == 0 and len(grown.json()["packages_made"]) == 1


def test_a_damaged_backup_is_refused_before_any_row_is_written(settings, archived, synthetic_files, runner, tmp_path):
    archived(synthetic_files(n_frames=4))
    assert runner("export", str(tmp_path / "backup")).exit_code == 0
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    victim = tmp_path / "backup" / "blobs" / next(key for key in manifest["blobs"] if key.endswith(".mp3"))
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    target = {"HYDROSERVE_DATA_DIR": str(tmp_path / "target"),
              "HYDROSERVE_DATABASE_URL": f"sqlite:///{tmp_path / 'target' / 'catalog.sqlite'}"}
    result = runner("import-archive", str(tmp_path / "backup"), env=target)
    assert result.exit_code == 1 and "does not match the manifest" in result.stderr
    restored = load_settings(env={}, data_dir=str(tmp_path / "target"))
    engine = wiring.open_existing_catalog(restored)
    with engine.connect() as conn:
        assert catalog.list_packages(conn) == []
    engine.dispose()
    assert runner("import-archive", str(tmp_path / "nothing-here"), env=target).exit_code == 2


def test_an_export_made_before_the_sensors_kept_their_state_restores_it_from_the_packages(
        settings, archived, synthetic_files, runner, other_catalog, tmp_path):
    """An export whose sensors rows lack the columns of their state (made before migration 0010, or 0002 for
    ``n_packages``) restores with the state of its packages and skipped windows, as the ingest had kept it."""
    archived(synthetic_files(n_frames=16, drop_frames={8, 9}))
    original = snapshot(settings)["sensors"]
    assert [(row["n_packages"], row["n_skipped_windows"]) for row in original] == [(4, 2)]
    backup = tmp_path / "backup"
    assert runner("export", str(backup)).exit_code == 0
    rows = backup / "catalog" / "sensors.jsonl"
    old_rows = [{k: v for k, v in json.loads(line).items() if k not in SENSOR_STATE} for line in rows.read_text().splitlines()]
    rows.write_text("".join(json.dumps(row) + "\n" for row in old_rows))
    assert old_rows and set(old_rows[0]) == {"sensor_id", "dom_id", "channel", "next_boundary_tick"}

    target = {"HYDROSERVE_DATA_DIR": str(tmp_path / "target"), "HYDROSERVE_DATABASE_URL": other_catalog}
    result = runner("import-archive", str(backup), env=target)
    assert result.exit_code == 0, result.stderr
    assert snapshot(load_settings(env={}, data_dir=str(tmp_path / "target"), database_url=other_catalog))["sensors"] == original
