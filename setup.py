"""Ships the top-level ``templates/`` folder inside the ``clinic`` package of a built wheel.

An editable install (and a plain checkout) reads ``templates/`` where it lies; a wheel has no such
folder, so the build copies it to ``clinic/_templates``, where ``clinic.app`` looks next.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "clinic" / "_templates"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(__file__).parent / "templates", target)


setup(cmdclass={"build_py": BuildWithTemplates})
