"""Notebooks that carry jaxbp inside them: ``python -m jaxbp.notebooks bundle OUT_DIR``.

A teacher shares one ``.ipynb`` file; a student uploads it to Colab (or opens it in
any Jupyter) and runs it, with no address to reach and nothing else to upload.  The
first code cell of every notebook in ``examples/`` is :func:`install_cell`: it uses an
installed jaxbp, and otherwise installs the wheel the notebook carries, after checking
its SHA-256, and says in English and Korean what it did.  The notebooks in the
repository carry no wheel: their first cell says in one sentence how to get one that
does, and stops *Run all* there with that one line (no traceback).

    python -m jaxbp.notebooks bundle OUT_DIR [--examples DIR]

writes each notebook found under ``examples/`` (``colab.ipynb``, every
``chNN/exercises.ipynb``) to ``OUT_DIR`` under the same relative path, its first code
cell holding this jaxbp's wheel (about 185 KB; 250 KB of base64, folded away in Colab).

The wheel is written here, from the installed package's own files and metadata, with
the standard library's ``zipfile``, rather than built by ``pip wheel``: that needs the
build backend (setuptools, fetched from an index unless installed), runs only from a
checkout, and records the files' times in the archive (another SHA-256 for the same
files).  Written here it needs no network and no build tool, works from an editable
checkout and from an installed jaxbp alike, and gives the same bytes for the same files
(sorted entries, fixed timestamps), so the SHA-256 the cell checks names exactly what
is inside.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Wheel", "wheel", "install_cell", "notebooks", "bundle", "main"]

PACKAGE = Path(__file__).resolve().parent
TITLE = "# @title Install jaxbp"  # how the install cell begins
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes whenever it is written
# metadata a wheel of ours does not carry: the long description and files it would name
_DROP = {"Description", "License-File", "Description-Content-Type"}


@dataclass(frozen=True)
class Wheel:
    """A wheel file: its name (``jaxbp-VERSION-py3-none-any.whl``) and its bytes."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _package_files(root: Path) -> list[Path]:
    """What the package ships, sorted: every file of it (the modules, ``py.typed``, the
    step-through page's CSS and script: pyproject's package-data), less compiled bytecode."""
    files = (p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return sorted((p for p in files if p.suffix != ".pyc"), key=str)


def _metadata(dist: importlib.metadata.Distribution) -> str:
    """The installed ``METADATA`` headers (``Requires-Dist`` and all), without the body."""
    lines = [f"{k}: {v}" for k, v in dist.metadata.items() if k not in _DROP]
    return "\n".join(lines) + "\n"


def _entry_points(dist: importlib.metadata.Distribution) -> str:
    groups: dict[str, list[str]] = {}
    for ep in dist.entry_points:
        groups.setdefault(ep.group, []).append(f"{ep.name} = {ep.value}")
    return "".join(f"[{g}]\n" + "\n".join(sorted(v)) + "\n\n" for g, v in sorted(groups.items()))


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def wheel(root: Path = PACKAGE) -> Wheel:
    """This jaxbp as a pure-Python wheel, from its files and installed metadata.

    ``root``: the package folder (the imported one by default).  Raises
    ``LookupError`` when jaxbp is not installed (no metadata to copy).

    >>> w = wheel()
    >>> w.name == f"jaxbp-{importlib.metadata.version('jaxbp')}-py3-none-any.whl"
    True
    >>> w.data == wheel().data  # the same files give the same bytes, so the same SHA-256
    True
    """
    try:
        dist = importlib.metadata.distribution("jaxbp")
    except importlib.metadata.PackageNotFoundError:
        raise LookupError("jaxbp is not installed (pip install -e . in its checkout)") from None
    version, info = dist.version, f"jaxbp-{dist.version}.dist-info"
    members = [
        (f"jaxbp/{p.relative_to(root).as_posix()}", p.read_bytes()) for p in _package_files(root)
    ]
    members += [
        (f"{info}/METADATA", _metadata(dist).encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: jaxbp.notebooks\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{info}/entry_points.txt", _entry_points(dist).encode()),
        (f"{info}/top_level.txt", b"jaxbp\n"),
    ]
    record = "\n".join([*(_record_line(n, d) for n, d in members), f"{info}/RECORD,,"]) + "\n"
    members.append((f"{info}/RECORD", record.encode()))
    return Wheel(f"jaxbp-{version}-py3-none-any.whl", _zip(members))


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip archive of ``(name, data)`` in that order, every entry dated 1980-01-01."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            entry = zipfile.ZipInfo(name, _EPOCH)
            entry.external_attr, entry.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
            z.writestr(entry, data)
    return buf.getvalue()


_NO_WHEEL = "WHEEL_NAME = None\nWHEEL_SHA256 = None\nWHEEL = None  # the wheel, base64\n"


def install_cell(carried: Wheel | None = None) -> str:
    """The source of every notebook's first code cell (``jaxbp/_notebook_cell.py``),
    carrying ``carried`` or no wheel.

    >>> cell = install_cell()
    >>> cell.startswith("# @title Install jaxbp") and "WHEEL = None" in cell
    True
    >>> "WHEEL_SHA256 = '" in install_cell(Wheel("jaxbp-0.1.0-py3-none-any.whl", b"PK"))
    True
    """
    cell = (PACKAGE / "_notebook_cell.py").read_text(encoding="utf-8").rstrip("\n")
    if carried is None:
        return cell
    b64 = base64.b64encode(carried.data).decode()
    lines = "\n".join(b64[i : i + 100] for i in range(0, len(b64), 100))
    given = (
        f"WHEEL_NAME = {carried.name!r}\nWHEEL_SHA256 = {carried.sha256!r}\n"
        f'WHEEL = """\n{lines}\n"""\n'
    )
    return cell.replace(_NO_WHEEL, given)


def notebooks(examples: Path) -> list[Path]:
    """Every notebook under ``examples`` (``colab.ipynb``, ``chNN/exercises.ipynb``, ...), sorted.

    >>> [p.name for p in notebooks(Path(__file__).parents[1] / "examples")][:1]
    ['exercises.ipynb']
    """
    found = (p for p in Path(examples).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    return sorted(found, key=lambda p: p.relative_to(examples).as_posix())


def _with_wheel(notebook: dict, carried: Wheel, where: str) -> dict:
    """``notebook`` (its JSON) with the wheel in its first code cell, the cell folded away."""
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    source = lambda c: c["source"] if isinstance(c["source"], str) else "".join(c["source"])
    if not cells or not source(cells[0]).startswith(TITLE):
        raise ValueError(f"{where}: its first code cell is not jaxbp's install cell")
    cells[0]["source"] = install_cell(carried).splitlines(keepends=True)
    cells[0]["metadata"] = {
        **cells[0].get("metadata", {}),
        "cellView": "form",
        "jupyter": {"source_hidden": True},
    }
    return notebook


def bundle(out_dir: str | Path, examples: str | Path, carried: Wheel | None = None) -> list[Path]:
    """Write each notebook of ``examples`` into ``out_dir`` with ``carried`` (by default
    this jaxbp's :func:`wheel`) inside; return the paths written.

    Raises ``ValueError`` (one line) for a notebook whose first code cell is not the
    install cell, and when there is no notebook, before writing anything.

    >>> import tempfile
    >>> out, examples = Path(tempfile.mkdtemp()), PACKAGE.parent / "examples"
    >>> [p.relative_to(out).as_posix() for p in bundle(out, examples)]
    ['ch05/exercises.ipynb', 'ch06/exercises.ipynb', 'ch07/exercises.ipynb', 'colab.ipynb']
    """
    from jaxbp._files import atomic_write

    examples, out_dir = Path(examples), Path(out_dir)
    carried = carried or wheel()
    found = notebooks(examples)
    if not found:
        raise ValueError(f"no notebooks under {examples}")
    todo = []
    for path in found:
        rel = path.relative_to(examples)
        notebook = _with_wheel(json.loads(path.read_text(encoding="utf-8")), carried, str(rel))
        text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        todo.append((out_dir / rel, text.encode("utf-8")))
    for target, data in todo:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda f, data=data: f.write(data))
    return [target for target, _ in todo]


def _default_examples() -> Path | None:
    """The checkout's ``examples/`` (editable install), else ``./examples``."""
    for root in (PACKAGE.parent, Path.cwd()):
        if notebooks(root / "examples"):
            return root / "examples"
    return None


def main(argv: list[str] | None = None) -> int:
    """``python -m jaxbp.notebooks bundle OUT_DIR [--examples DIR]``; 0 when written, else
    2 with one line on stderr (a notebook without the install cell, no notebooks, ...).

    >>> import tempfile
    >>> main(["bundle", tempfile.mkdtemp()])
    wrote .../ch05/exercises.ipynb
    wrote .../colab.ipynb
    each carries jaxbp-...-py3-none-any.whl (... KB, SHA-256 ...)
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m jaxbp.notebooks", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("bundle", help="write the notebooks with jaxbp's wheel inside")
    one.add_argument("out_dir", metavar="OUT_DIR", help="where the notebooks go")
    one.add_argument(
        "--examples",
        metavar="DIR",
        help="the folder of notebooks (default: the checkout's examples/, else ./examples)",
    )
    args = parser.parse_args(argv)
    examples = Path(args.examples) if args.examples else _default_examples()
    try:
        if examples is None:
            raise ValueError(
                "no examples/ folder with notebooks here: run it in a jaxbp "
                "checkout, or give --examples DIR"
            )
        carried = wheel()
        written = bundle(args.out_dir, examples, carried)
    except (ValueError, LookupError, OSError) as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"each carries {carried.name} ({len(carried.data) // 1024} KB, SHA-256 {carried.sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
