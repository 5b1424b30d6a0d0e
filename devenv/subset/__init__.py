"""Production subsets: a referentially intact, anonymised cut of a production
database, written as a devenv dataset directory (``devenv dataset subset``).

* ``source``    the production database: a URL, opened by its engine behind the seam
                (``devenv.db.sources``: connection, one consistent snapshot, catalog)
* ``dump``      a dump file as the source, loaded into a throwaway server of the profile's db image
* ``schema``    tables, keys and foreign keys from the engine's catalog; load order; defaults
* ``rules``     anonymisation and subset rules (profile ``data.anonymise``/``data.subset`` or a file)
* ``closure``   start rows, then parents and follow-children until nothing changes
* ``anonymise`` fixed, fake and keyed-hash values
* ``writer``    CSV files, the engine's load script, schema.sql, manifest.json, DATASET_ID (the format
                of ``devenv.data.dataset_dir``, which also checks a dataset directory a profile names)
* ``run``       one run, start to end
* ``importer``  ``devenv dataset import``: every row of every table, as is

See docs/subset.md.
"""

from .errors import (IntegrityError, RulesError, SchemaError, SourceError,
                     SourceUnreachableError, SubsetError)
from .run import Request, Result, open_source, subset
from .rules import Rules

__all__ = ["IntegrityError", "Request", "Result", "Rules", "RulesError", "SchemaError",
           "SourceError", "SourceUnreachableError", "SubsetError", "open_source", "subset"]
