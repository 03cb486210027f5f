"""The standards pages' URL object for the project-wide sweeps (tests/mastery/test_tenancy.py
URL_OBJECTS, tests/site/test_permissions.py MATRIX): a framework the world's school sees."""

from __future__ import annotations

from pathlib import Path

from mastery.models import Framework
from mastery.standards.case import package_parse
from mastery.standards.importer import framework_import

PACKAGE = Path(__file__).with_name("SequenceNumberFramework.cfpackage.json")


def framework_of(world) -> Framework:
    if "framework" not in world.extra:
        result = framework_import(
            school=world.school,
            package=package_parse(PACKAGE.read_bytes()),
            source=PACKAGE.name,
            imported_by=None,
        )
        world.extra["framework"] = Framework.objects.get(pk=result.framework_id)
    return world.extra["framework"]
