"""The alert domain (no Flask, no web layer, no global settings): ``settings`` (what the wiring gives it), ``input`` (the
rules of a posted alert), ``packets`` (an alert as a VOEvent packet), ``store`` (the catalogue table and its reads),
``submission`` (posting: a new revision or the stored one), ``registration`` (collection, stream and resource records),
``filters`` (the query filters of the alert list)."""
