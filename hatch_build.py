"""Hatchling build hook: compile the translation catalogs into the wheel.

The compiled catalogs (`portal/translations/*/LC_MESSAGES/messages.mo`) are build output, not committed (`make
translations` makes them in a checkout); a wheel must carry them, so this hook compiles each `messages.po` with Babel
(the same library `pybabel compile` is) into the build's temporary directory and force-includes the result.
"""

import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileCatalogs(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        self._out = tempfile.TemporaryDirectory(prefix="portal-catalogs-")
        for po in sorted((root / "portal" / "translations").glob("*/LC_MESSAGES/messages.po")):
            with po.open("rb") as source:
                catalog = read_po(source)
            mo = Path(self._out.name) / po.relative_to(root).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with mo.open("wb") as target:
                write_mo(target, catalog)
            build_data["force_include"][str(mo)] = mo.relative_to(self._out.name).as_posix()

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        self._out.cleanup()
