"""How a package and its products were made, as provenance steps (the same in /info and in resource records)."""

from __future__ import annotations

from .catalog import PackageRecord

CUT_STEP = "hydroserve:cut"
PRODUCT_STEPS = {
    "raw": "ADF framing of the stored samples",
    "wav": "WAV header + the stored float32 samples",
    "flac": "24-bit FLAC of the samples' exact ADC counts (count * 2**-23), verified bit for bit; the samples as stored",
    "mp3": "DC removal, anti-alias resampling to 48 kHz, gain, MPEG Layer III encoding",
    "psd": "Welch PSD with per-frequency quantiles across segments",
    "hmd": "1-minute hybrid millidecade spectra (Welch, 1 s Hann segments, 50 % overlap), decidecade and broadband levels, "
           "SEL and peak level",
}


def cut_step(record: PackageRecord) -> dict:
    """The cutting of the stream into this package: its source files and the cutting settings."""
    return {"id": CUT_STEP, "description": "fixed-interval sample-exact cutting of the ADF stream",
            "sources": list(record.sources), "parameters": dict(record.settings)}


def product_step(record: PackageRecord, kind: str) -> dict:
    """The making of one product from the cut samples, with its scalar parameters, its version and, for a
    rebuilt version, the software that made it and the version it replaces."""
    product = record.products[kind]
    parameters = {key: value for key, value in product.details.items() if isinstance(value, str | int | float | bool)}
    parameters["version"] = product.version
    if product.replaces is not None:
        parameters["software_version"] = product.software_version
        parameters["replaces_version"] = product.replaces["version"]
    return {"id": f"hydroserve:{kind}", "description": PRODUCT_STEPS.get(kind, f"{kind} product"), "parameters": parameters}


def package_provenance(record: PackageRecord) -> list[dict]:
    """Every step: the cut, then each product in the order they are made."""
    kinds = sorted(record.products, key=lambda kind: list(PRODUCT_STEPS).index(kind) if kind in PRODUCT_STEPS else len(PRODUCT_STEPS))
    return [cut_step(record), *(product_step(record, kind) for kind in kinds)]
