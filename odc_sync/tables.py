"""The SQLAlchemy metadata of the open-data schema.

The registry's tables (:mod:`.registry`) and the outbox's (:mod:`.outbox`)
are defined on this one :class:`~sqlalchemy.MetaData`, so they are created
together and the outbox's foreign key to ``resources`` resolves. Importing
:mod:`.registry` defines them all.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
