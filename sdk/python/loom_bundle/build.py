"""Builds a Python bundle into a loom component.

    python -m loom_bundle.build APP -o bundle.wasm [--world bundle|invariants] [--class NAME]

APP is a module file (`app.py`) or a package directory. The build:

1. imports APP natively, finds the one `Bundle` (or `Rules`) subclass it defines and checks its
   manifest as loom will, so a misdeclared bundle fails here, with every problem named;
2. stages APP, the SDK and a generated entry module in a scratch directory, so the component
   holds exactly those (not the tests or anything else lying beside APP);
3. runs componentize-py (pinned: `COMPONENTIZE_PY_VERSION`) against the SDK's copy of the
   contract, with `--stub-wasi`: loom grants a bundle no WASI, and without the stubs the
   component imports `wasi:cli` and traps at its first call.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

from .bundle import Bundle, Rules, call_manifest
from .checks import manifest_problems

COMPONENTIZE_PY_VERSION = "0.25.1"
SDK_DIR = Path(__file__).resolve().parent
WIT_DIR = SDK_DIR / "wit"
ENTRY = "loom_bundle_entry"
# Module names the component reserves: the generated bindings and the SDK's own.
RESERVED = {"wit_world", "componentize_py_types", "componentize_py_runtime", "componentize_py_async_support", "poll_loop", "loom_bundle", ENTRY}


class BuildError(Exception):
    pass


def find_componentize_py(given: Optional[str]) -> str:
    """The componentize-py to run: `--componentize-py`, `$LOOM_COMPONENTIZE_PY`, the one beside
    this Python (a venv's), or the one on PATH."""
    for candidate in (given, os.environ.get("LOOM_COMPONENTIZE_PY") or None):
        if candidate:
            return candidate
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("componentize-py")
    if found:
        return found
    raise BuildError(
        f"componentize-py is not installed; install the version this SDK is built with: "
        f"`python3 -m pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (in a venv), or "
        f"name it with --componentize-py PATH"
    )


def check_version(exe: str) -> None:
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise BuildError(f"cannot run {exe} --version: {e}") from None
    version = out.split()[-1] if out else ""
    if version != COMPONENTIZE_PY_VERSION:
        raise BuildError(
            f"{exe} is componentize-py {version or '(unknown)'}; this SDK is built and tested with "
            f"{COMPONENTIZE_PY_VERSION}: `python3 -m pip install componentize-py=={COMPONENTIZE_PY_VERSION}`"
        )


def load_app(app: Path) -> Tuple[str, object]:
    """Imports APP natively; returns its module name and module."""
    if app.is_dir():
        if not (app / "__init__.py").exists():
            raise BuildError(f"{app} is a directory without __init__.py; give a module file or a package")
        name = app.name
    elif app.suffix == ".py":
        name = app.stem
    else:
        raise BuildError(f"{app} is neither a .py file nor a package directory")
    if name in RESERVED or not name.isidentifier():
        raise BuildError(f"the module name {name!r} cannot be used (reserved or not an identifier); rename {app}")
    sys.path.insert(0, str(app.parent))
    try:
        module = importlib.import_module(name)
    except Exception as e:
        raise BuildError(f"importing {app} failed: {type(e).__name__}: {e}") from None
    finally:
        sys.path.pop(0)
    return name, module


def pick_class(module: object, wanted: Optional[str]) -> type:
    found = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, (Bundle, Rules)) and c not in (Bundle, Rules) and c.__module__.split(".")[0] == module.__name__  # type: ignore[attr-defined]
    ]
    if wanted:
        match = [c for c in found if c.__name__ == wanted]
        if not match:
            raise BuildError(f"{module.__name__} defines no Bundle or Rules subclass named {wanted!r} (it defines: {', '.join(c.__name__ for c in found) or 'none'})")  # type: ignore[attr-defined]
        return match[0]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise BuildError(f"{module.__name__} must define exactly one Bundle or Rules subclass, it defines: {names}; choose with --class NAME")  # type: ignore[attr-defined]
    return found[0]


def stage(app: Path, name: str, cls: type, world: str, into: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", "test_*.py")
    if app.is_dir():
        shutil.copytree(app, into / name, ignore=ignore)
    else:
        shutil.copy(app, into / f"{name}.py")
    shutil.copytree(SDK_DIR, into / "loom_bundle", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "wit", "build.py"))
    exports = "Logic, Rules" if world == "bundle" else "_, Rules"
    (into / f"{ENTRY}.py").write_text(
        "# Generated by loom_bundle.build: the component's entry module.\n"
        "from loom_bundle import _guest\n"
        f"from {cls.__module__} import {cls.__name__} as _Bundle\n\n"
        f"_guest.install({name!r})\n"
        f"{exports} = _guest.exports_for(_Bundle)\n"
    )


def build(app: Path, output: Path, world: Optional[str] = None, class_name: Optional[str] = None, componentize_py: Optional[str] = None, quiet: bool = False) -> Path:
    app = app.resolve()
    if not app.exists():
        raise BuildError(f"{app} does not exist")
    name, module = load_app(app)
    cls = pick_class(module, class_name)
    world = world or ("bundle" if issubclass(cls, Bundle) else "invariants")
    if world == "bundle":
        if not issubclass(cls, Bundle):
            raise BuildError(f"{cls.__name__} is a Rules set (check only); build it with --world invariants")
        kind, m = call_manifest(cls())
        if kind != "ok":
            raise BuildError(f"{cls.__name__}.manifest() failed: {m}")
        problems = manifest_problems(m)
        if problems:
            raise BuildError(f"{cls.__name__}'s manifest has problems:\n- " + "\n- ".join(problems))
    elif world != "invariants":
        raise BuildError(f"world {world!r} is not one of: bundle, invariants")
    exe = find_componentize_py(componentize_py)
    check_version(exe)
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loom-bundle-build-") as tmp:
        stage(app, name, cls, world, Path(tmp))
        cmd: List[str] = [exe, "-d", str(WIT_DIR), "-w", world, "componentize", "--stub-wasi", ENTRY, "-p", tmp, "-o", str(output)]
        if quiet:
            cmd.insert(1, "-q")
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}  # else it bundles the venv
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"componentize-py failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return output


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loom_bundle.build", description="Build a Python loom bundle into a component.")
    p.add_argument("app", type=Path, help="the bundle's module file or package directory")
    p.add_argument("-o", "--output", type=Path, required=True, help="the component to write (.wasm)")
    p.add_argument("--world", choices=["bundle", "invariants"], help="default: bundle for a Bundle subclass, invariants for a Rules one")
    p.add_argument("--class", dest="class_name", help="the class to export, when the module defines several")
    p.add_argument("--componentize-py", help=f"the componentize-py {COMPONENTIZE_PY_VERSION} executable to use")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    try:
        out = build(a.app, a.output, a.world, a.class_name, a.componentize_py, a.quiet)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not a.quiet:
        print(f"built {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
