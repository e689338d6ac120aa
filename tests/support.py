"""Constants and helpers shared by the tests (importable: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

from hydroserve.codecs.raw import TICKS_PER_SECOND, SensorId

REAL_FILE = "acoustics/DOM_808956920_CH1_1608751683.bin"
# first frame of the real file: 1608751679 s + 47216000 ticks (not on a whole second, not on the 320-tick lattice)
REAL_START_TICK = 1608751679 * TICKS_PER_SECOND + 47_216_000
SENSOR = SensorId(808956920, 1)
TOKEN = "test-token-3f9a"
