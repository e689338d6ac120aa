"""The parameters of the products made at ingest (from the configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from hydroserve.codecs import raw

from .loudness import LoudnessPolicy


@dataclass(frozen=True)
class ProductSettings:
    """Parameters of the products made at ingest."""

    frame_length: int = raw.DEFAULT_FRAME_LENGTH
    mp3_bit_rate_kbps: int = 128
    mp3_quality: int = 7  # LAME "fast": 1.6x faster than 5, same decoded SNR (21.7 vs 21.6 dB) on the synthetic signal
    psd_nfft: int = 8192
    loudness: LoudnessPolicy = LoudnessPolicy()
    samples_storage: str = "auto"  # "auto": FLAC when every sample is an exact 24-bit count, else float32; or "float32"

    def as_json(self) -> dict:
        """The settings under their configuration keys (as recorded with every package and reprocessing job)."""
        return {
            "adf_frame_length": self.frame_length,
            "mp3_bit_rate_kbps": self.mp3_bit_rate_kbps,
            "mp3_quality": self.mp3_quality,
            "psd_nfft": self.psd_nfft,
            "mp3_full_scale_db_re_1upa": self.loudness.full_scale_db_re_1upa,
            "mp3_full_scale_sample_units": self.loudness.full_scale_sample_units,
            "mp3_limiter_knee_dbfs": self.loudness.knee_dbfs,
            "samples_storage": self.samples_storage,
        }

    @classmethod
    def from_json(cls, values: dict) -> ProductSettings:
        """The settings recorded by :meth:`as_json`."""
        loudness = LoudnessPolicy(values["mp3_full_scale_db_re_1upa"], values["mp3_full_scale_sample_units"],
                                  values["mp3_limiter_knee_dbfs"])
        return cls(values["adf_frame_length"], values["mp3_bit_rate_kbps"], values["mp3_quality"], values["psd_nfft"], loudness,
                   values.get("samples_storage", "auto"))  # recorded since FLAC storage; float32 before, chosen by "auto"
