"""The rules a posted alert must follow (a marshmallow schema), and the vocabulary of alert fields.

Field names follow the GCN KM3NeT alert JSON schema (nasa-gcn/gcn-schema,
``gcn/notices/km3net``) where it has a name for the same thing: ``id``,
``event_name``, ``mission``, ``instrument`` (the detector), ``messenger``,
``alert_type``, ``alert_tense``, ``record_number``, ``alert_datetime``,
``notice_type``, ``trigger_time``, ``ra``, ``dec``, ``ra_dec_error`` (the
90 % radius), ``src_error_50``, ``far``, ``p_value``, ``p_astro``,
``alert_topology``, ``number_of_events``, ``additional_info``. The others
are KM3NeT's own: ``is_real_alert``, ``trigger_types``, ``flavor``,
``neutrino_type``, ``energy``/``energy_unit``, ``reconstruction_quality``,
``prob_neutrino``, ``ranking``, ``galactic_longitude``/``galactic_latitude``.
"""

from __future__ import annotations

import numbers

import marshmallow as ma
from marshmallow import fields, validate

from hydroserve.api.validation import described, matching
from hydroserve.codecs import sky, xmltext
from hydroserve.codecs.times import in_utc

EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ALERT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}_r[1-9][0-9]{0,5}$"
INSTRUMENT_PATTERN = r"^[A-Za-z][A-Za-z0-9._-]{0,31}$"
TRIGGER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

ALERT_TYPES = ("initial", "update", "retraction")
ALERT_TENSES = ("current", "archival", "planned", "injection", "commanded", "mock")
NOTICE_TYPES = ("exceptional_evt_arca", "exceptional_evt_orca", "multiplet_arca", "multiplet_orca")
TOPOLOGIES = ("Track", "Shower", "Multiplet")
FLAVORS = ("electron", "muon", "tau", "unknown")
NEUTRINO_TYPES = ("neutrino", "antineutrino", "unknown")
ENERGY_UNITS = ("GeV", "TeV", "PeV")

# what a retraction may say: which event and revision, when, why; everything else is the retracted alert's
RETRACTION_FIELDS = frozenset({"id", "alert_type", "record_number", "alert_datetime", "additional_info", "is_real_alert"})
REQUIRED_FIELDS = ("id", "instrument", "is_real_alert", "trigger_time", "ra", "dec", "ra_dec_error", "src_error_50")
GALACTIC_TOLERANCE_DEG = 0.1


class Text(fields.String):
    """A string XML can carry (no NUL or other control characters except tab and newlines)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            xmltext.check_text(text, "the text")
        except ValueError as error:
            raise ma.ValidationError(str(error).replace("the text", "The text", 1)) from None
        return text


class ZonedTime(fields.AwareDateTime):
    """An ISO 8601 / RFC 3339 time with a zone whose UTC equivalent exists (years 1 to 9999), kept in its own zone."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            in_utc(moment)
        except ValueError as error:
            raise ma.ValidationError(str(error)) from None
        return moment


class Number(fields.Float):
    """A finite JSON number (strings and booleans are refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ma.ValidationError("Not a number.")
        return super()._deserialize(value, attr, data, **kwargs)


class WholeNumber(fields.Integer):
    """A JSON integer (strings, booleans and fractions are refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ma.ValidationError("Not an integer.")
        return super()._deserialize(value, attr, data, **kwargs)


def _probability(description: str, example: float) -> Number:
    return Number(validate=validate.Range(min=0, max=1), **described(description, example))


class AlertInputSchema(ma.Schema):
    """A neutrino-candidate alert from the online reconstruction, annotated for VOEvent.

    Required (except in a retraction): ``id``, ``instrument``,
    ``is_real_alert``, ``trigger_time``, ``ra``, ``dec``, ``ra_dec_error``,
    ``src_error_50``. A retraction (``alert_type: "retraction"``) names the
    event (``id``) and may give only ``record_number``, ``alert_datetime``,
    ``additional_info`` (the reason) and ``is_real_alert``; everything else
    is the retracted alert's.
    """

    id = Text(validate=matching(EVENT_ID_PATTERN, error="Must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."),
              **described("event identifier, unique across detectors; every revision of the event carries it", "ORCA24-0114-00873"))
    event_name = Text(validate=validate.Length(min=1, max=64), **described("public name of the event", "KM3-250114A"))
    mission = Text(load_default="KM3NeT", validate=validate.Length(min=1, max=64), **described("observatory", "KM3NeT"))
    instrument = Text(validate=matching(INSTRUMENT_PATTERN, error="Must be a detector name such as ARCA21 or ORCA24."),
                      **described("detector (its name starts with a configured site: ARCA, ORCA)", "ORCA24"))
    messenger = Text(load_default="Neutrino", validate=validate.OneOf(["Neutrino"]), **described("messenger", "Neutrino"))
    is_real_alert = fields.Boolean(truthy={True}, falsy={False},
                                   **described("true: a real observation (VOEvent role observation); false: a test (role test)", True))
    alert_type = Text(load_default="initial", validate=validate.OneOf(ALERT_TYPES),
                      **described("initial, or a revision of an earlier alert of the same id: update or retraction", "initial"))
    alert_tense = Text(validate=validate.OneOf(ALERT_TENSES), **described("GCN alert tense", "current"))
    record_number = WholeNumber(validate=validate.Range(min=1, max=999_999),
                                **described("revision number of the event's alerts (1, 2, ...); by default the next one", 1))
    alert_datetime = ZonedTime(**described("when the alert was issued (ISO 8601 with zone); default: when it is received",
                                                 "2025-01-14T03:12:09Z"))
    notice_type = Text(validate=validate.OneOf(NOTICE_TYPES), **described("issuing pipeline", "exceptional_evt_orca"))
    trigger_types = fields.List(Text(validate=matching(TRIGGER_PATTERN)), validate=validate.Length(max=32),
                                **described("triggers that fired", ["JTRIGGER3DMUON", "JTRIGGERMXSHOWER"]))
    trigger_time = ZonedTime(**described("event time, ISO 8601 with zone (UTC)", "2025-01-14T03:11:58.337512Z"))
    ra = Number(validate=validate.Range(min=0, max=360, max_inclusive=False), **described("right ascension, J2000 (FK5/ICRS), deg", 231.2))
    dec = Number(validate=validate.Range(min=-90, max=90), **described("declination, J2000 (FK5/ICRS), deg", -12.8))
    ra_dec_error = Number(validate=validate.Range(min=0, max=180, min_inclusive=False),
                          **described("radius of the 90 % containment circle, deg", 1.6))
    src_error_50 = Number(validate=validate.Range(min=0, max=180, min_inclusive=False),
                          **described("radius of the 50 % containment circle, deg", 0.7))
    galactic_longitude = Number(validate=validate.Range(min=0, max=360, max_inclusive=False),
                                **described("galactic longitude, deg; computed from ra/dec when absent, checked against them when given"))
    galactic_latitude = Number(validate=validate.Range(min=-90, max=90),
                               **described("galactic latitude, deg; computed from ra/dec when absent, checked against them when given"))
    flavor = Text(validate=validate.OneOf(FLAVORS), **described("reconstructed neutrino flavour", "muon"))
    neutrino_type = Text(validate=validate.OneOf(NEUTRINO_TYPES), **described("neutrino or antineutrino", "unknown"))
    alert_topology = Text(validate=validate.OneOf(TOPOLOGIES), **described("event topology", "Track"))
    number_of_events = WholeNumber(validate=validate.Range(min=1, max=1_000_000), **described("multiplicity: events in the alert", 1))
    energy = Number(validate=validate.Range(min=0, min_inclusive=False), **described("reconstructed energy, in energy_unit", 23.5))
    energy_unit = Text(validate=validate.OneOf(ENERGY_UNITS), **described("unit of energy (default GeV)", "TeV"))
    reconstruction_quality = Number(**described("quality of the direction fit (reconstruction likelihood per degree of freedom)", 1.07))
    prob_neutrino = _probability("probability that the event is a neutrino (not an atmospheric muon)", 0.97)
    p_astro = _probability("probability of astrophysical origin", 0.31)
    ranking = WholeNumber(validate=validate.Range(min=1, max=100), **described("alert class, 1 = most significant (gold 1, silver 2, bronze 3)", 2))
    far = Number(validate=validate.Range(min=0), **described("false alarm rate of alerts like this one, Hz", 3.2e-8))
    p_value = _probability("probability of a background alert at least as significant", 0.004)
    additional_info = Text(validate=validate.Length(max=2000), **described("free text: the selection, or a retraction's reason"))

    @ma.validates_schema
    def _consistent(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        if data.get("alert_type") == "retraction":
            for name in sorted(set(data) - RETRACTION_FIELDS - {"mission", "messenger"}):
                errors[name] = ["Not used in a retraction: it inherits the retracted alert's values."]
            if "id" not in data:
                errors["id"] = ["Missing data for required field."]
        else:
            for name in REQUIRED_FIELDS:
                if name not in data:
                    errors[name] = ["Missing data for required field."]
        if "src_error_50" in data and "ra_dec_error" in data and data["src_error_50"] > data["ra_dec_error"]:
            errors.setdefault("src_error_50", []).append("The 50 % radius must not exceed the 90 % radius (ra_dec_error).")
        if "energy_unit" in data and "energy" not in data:
            errors.setdefault("energy_unit", []).append("Given without energy.")
        if ("galactic_longitude" in data) != ("galactic_latitude" in data):
            name = "galactic_latitude" if "galactic_longitude" in data else "galactic_longitude"
            errors.setdefault(name, []).append("Give both galactic coordinates or neither.")
        elif "galactic_longitude" in data and "ra" in data and "dec" in data:
            l_deg, b_deg = sky.equatorial_to_galactic(data["ra"], data["dec"])
            offset = sky.angular_distance_deg(l_deg, b_deg, data["galactic_longitude"], data["galactic_latitude"])
            if offset > GALACTIC_TOLERANCE_DEG:
                errors.setdefault("galactic_longitude", []).append(
                    f"With galactic_latitude, {offset:.3f} deg away from ra/dec, which give l = {l_deg:.4f}, b = {b_deg:.4f} deg "
                    f"(tolerance {GALACTIC_TOLERANCE_DEG} deg).")
        if errors:
            raise ma.ValidationError(errors)
