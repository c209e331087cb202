"""The release a user installs: the sdist and wheel that ``python -m build`` makes, checked by twine, installed
with every extra into a fresh virtualenv (not this checkout), where the README's quick start runs against the
local server.

The virtualenv takes its packages from the package index (pip's cache makes a second run quick); nothing in it
comes from the checkout but the built wheel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import aiocosmos
from tests.server import CosmosTestServer

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = "otel,dask,ray,pydantic"


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT, cwd=out)
    return out


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {dist}, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", home / "venv", cwd=home)
    python = home / "venv" / "bin" / "python"
    wheel = _one(dist, "aiocosmos-*-py3-none-any.whl")
    _run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{wheel}[{EXTRAS}]", cwd=home)
    yield python


def test_the_sdist_and_the_wheel_pass_twine_check_and_carry_the_version(dist: Path) -> None:
    wheel = _one(dist, "aiocosmos-*-py3-none-any.whl")
    sdist = _one(dist, "aiocosmos-*.tar.gz")
    assert wheel.name == f"aiocosmos-{aiocosmos.__version__}-py3-none-any.whl"
    assert sdist.name == f"aiocosmos-{aiocosmos.__version__}.tar.gz"
    output = _run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist, cwd=dist)
    assert output.count("PASSED") == 2
    names = zipfile.ZipFile(wheel).namelist()
    assert "aiocosmos/py.typed" in names and "aiocosmos/__init__.py" in names
    assert not [n for n in names if n.startswith("tests/")]  # the wheel is the package alone
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "aiocosmos = aiocosmos.__main__:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    expected = {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "aiocosmos/__init__.py", "aiocosmos/py.typed"}
    assert expected <= members, expected - members


def test_the_wheel_installs_with_every_extra_and_imports_from_the_virtualenv(venv: Path, tmp_path: Path) -> None:
    code = ("import aiocosmos, aiocosmos.dask, aiocosmos.ray, aiocosmos.mgmt, opentelemetry.trace, pydantic; "
            "print(aiocosmos.__version__, aiocosmos.__file__)")
    version, location = _run(venv, "-c", code, cwd=tmp_path).split()
    assert version == aiocosmos.__version__
    assert Path(location).is_relative_to(venv.parents[1]), location  # not this checkout
    assert "usage" in _run(venv.parent / "aiocosmos", "--help", cwd=tmp_path).lower()


def quick_start(readme: str) -> str:
    """The README's quick start block, as a user would copy it."""
    section = readme.split("\n## Quick start\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python block under 'Quick start'"
    return match.group(1)


async def test_the_readme_quick_start_runs_from_the_installed_wheel(
    venv: Path, tmp_path: Path, cosmos_server: CosmosTestServer, client: aiocosmos.CosmosClient,
) -> None:
    code = quick_start((ROOT / "README.md").read_text(encoding="utf-8"))
    call = 'asyncio.run(main("https://<account>.documents.azure.com:443/", "<key>"))'
    assert code.count(call) == 1, "the quick start no longer ends with the call this test replaces"
    code = code.replace(call, "asyncio.run(main(sys.argv[1], sys.argv[2]))")
    script = tmp_path / "quick_start.py"
    script.write_text("import sys\n" + code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        output = _run(venv, script, cosmos_server.url, cosmos_server.key, cwd=tmp_path, env=env)
    finally:
        await client.delete_database("shop")
    lines = output.splitlines()
    total, charge, etag = lines[0].split(" ", 2)
    assert total == "5" and float(charge) > 0 and etag  # created["total"], .request_charge, .etag
    assert lines[1] == "1"  # the id the query found (total 7 > 3)
    pages, page_charge = lines[2].split()
    assert len(lines) == 3 and pages == "1" and float(page_charge) > 0  # the resumed pager's page: len, charge
