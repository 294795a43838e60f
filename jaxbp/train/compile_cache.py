"""A persistent compilation cache whose entries cannot change a result (``--compile-cache``).

JAX's own persistent cache trusts every file in its folder: an entry copied under
another program's key is loaded and run as that program.  :func:`enable` keeps
jaxbp's compiled programs in a per-user folder (``$XDG_CACHE_HOME/jaxbp/xla`` or
``~/.cache/jaxbp/xla``) and signs each one:

    entry file  <key>-signed = MAGIC + HMAC-SHA256(secret, len(key) | key | value) + value

where ``value`` is the bytes JAX hands to the cache (its compressed executable)
and ``secret`` is 32 random bytes in ``<folder>/.key``.

What the cache trusts, exactly: **the secret file** ``<folder>/.key``, a regular
file owned by the user and readable only by them (mode 0600; created atomically
on first use, and replaced by a fresh one when it is not private, not the user's,
or not 32 bytes).  Nothing else: an entry read back is used only when its digest
matches its own key and contents, so a file planted without the secret, a valid
entry copied or swapped under another key, a truncated or corrupt file are all a
miss: the file is deleted, the program is compiled again and the entry rewritten,
and one line on stderr names the folder (once per process).  Whoever can read the
secret file (the user, root) can still forge entries.

JAX versions without the cache hook (``jax._src.compilation_cache._cache``) get no
persistent cache at all rather than an unsigned one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import stat
import sys
import threading
from pathlib import Path

__all__ = ["enable", "SignedCache", "secret_for", "entry_name", "MAGIC"]

MAGIC = b"jaxbp-xla-signed-1\n"
_DIGEST = 32  # bytes of HMAC-SHA256
_KEY_BYTES = 32
_SUFFIX = "-signed"
_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,200}")


_WARNED: set[str] = set()  # folders already warned about by this process


def _warn(folder: str, why: str) -> None:
    """One line on stderr naming ``folder``, at most once per folder and process."""
    if folder in _WARNED:
        return
    _WARNED.add(folder)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"jaxbp: compile cache {folder}: {why}\n")
        sys.stderr.flush()


# ---- the secret ---------------------------------------------------------------------------
def _read_secret(path: Path) -> bytes | None:
    """The secret if ``path`` is a private regular file of this user holding 32 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        private = (st.st_mode & 0o077) == 0 and st.st_uid == os.getuid()
        secret = f.read(_KEY_BYTES + 1)
    ok = private and stat.S_ISREG(st.st_mode) and len(secret) == _KEY_BYTES
    return secret if ok else None


def _new_secret(path: Path) -> None:
    """Write 32 random bytes to a fresh 0600 temp file, then rename it to ``path``."""
    tmp = path.with_name(f".key.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(_KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic and never overwrites another process's new key
        except FileExistsError:
            if _read_secret(path) is None:  # the existing one is not trustworthy
                os.replace(tmp, path)
                return
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def secret_for(folder: str | os.PathLike) -> bytes:
    """The signing secret of ``folder`` (``<folder>/.key``), made on first use.

    A key file that is not private (any group/other permission bit), not owned by
    the user or not 32 bytes is replaced (one warning): its entries then all fail.
    Raises ``OSError`` when the folder cannot be written.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> s = secret_for(d)
    >>> s == secret_for(d), len(s), oct(os.stat(d + "/.key").st_mode & 0o777)
    (True, 32, '0o600')
    """
    path = Path(folder) / ".key"
    secret = _read_secret(path)
    if secret is None:
        if path.exists() or path.is_symlink():
            _warn(str(folder), "the key file was not private; made a new one")
        _new_secret(path)
        secret = _read_secret(path)
        if secret is None:
            raise OSError(f"cannot create a private key file {path}")
    return secret


# ---- the cache ----------------------------------------------------------------------------
def _digest(secret: bytes, key: str, value: bytes) -> bytes:
    k = key.encode()
    mac = hmac.new(secret, len(k).to_bytes(8, "big") + k, hashlib.sha256)
    mac.update(value)
    return mac.digest()


def entry_name(key: str) -> str:
    """The file name of ``key``'s entry: the key itself when it is a plain name, else its hash.

    >>> entry_name("jit_f-0123abcd"), entry_name("../x").startswith("sha256-")
    ('jit_f-0123abcd-signed', True)
    """
    if _SAFE_NAME.fullmatch(key):
        return key + _SUFFIX
    return "sha256-" + hashlib.sha256(key.encode()).hexdigest() + _SUFFIX


class SignedCache:
    """Signed files in ``folder`` behind ``get(key)``/``put(key, value)`` (JAX's cache interface).

    ``get`` returns the stored value only when its digest matches ``key`` and the
    value, else deletes the file and returns ``None`` (a miss); ``put`` always
    (re)writes the entry atomically.  Never raises on a bad or unreadable file.

    >>> import tempfile
    >>> c = SignedCache(tempfile.mkdtemp())
    >>> c.put("a", b"program A"); c.put("b", b"program B")
    >>> c.get("a"), c.get("missing")
    (b'program A', None)
    >>> os.replace(c.path("a"), c.path("b"))   # A's valid entry under B's key
    >>> c.get("b") is None, os.path.exists(c.path("b"))
    (True, False)
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = str(folder)
        self._path = Path(folder)  # what JAX's CacheInterface and log lines read
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        self._secret = secret_for(self.folder)
        self._lock = threading.Lock()
        self.rejected = 0  # entries discarded by this process

    def path(self, key: str) -> str:
        """Where ``key``'s entry is stored."""
        return os.path.join(self.folder, entry_name(key))

    def get(self, key: str) -> bytes | None:
        """The value stored under ``key`` if its signature holds, else ``None``."""
        try:
            with open(self.path(key), "rb") as f:
                data = f.read()
        except OSError:
            return None
        head, n = len(MAGIC), len(MAGIC) + _DIGEST
        value = data[n:]
        ok = data[:head] == MAGIC and len(data) > n
        if ok and hmac.compare_digest(data[head:n], _digest(self._secret, key, value)):
            return value
        self._discard(key)
        return None

    def _discard(self, key: str) -> None:
        with self._lock:
            self.rejected += 1
        with contextlib.suppress(OSError):
            os.unlink(self.path(key))
        _warn(self.folder, "discarded an entry that failed its signature check; recompiling")

    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``, signed (a write error is one warning, not a failure)."""
        from jaxbp._files import atomic_write

        value = bytes(value)
        blob = MAGIC + _digest(self._secret, key, value) + value
        try:
            atomic_write(self.path(key), lambda f: f.write(blob))
            os.chmod(self.path(key), 0o600)
        except OSError as e:
            _warn(self.folder, f"cannot write an entry ({e}); continuing without it")


# ---- hooking it into JAX ------------------------------------------------------------------
def _jax_cache_module():
    """JAX's compilation-cache module when it has the hook :func:`enable` needs, else None."""
    try:
        from jax._src import compilation_cache as cc
        from jax._src.compilation_cache_interface import CacheInterface
    except ImportError:
        return None, None
    needed = ("_cache", "_cache_initialized", "_cache_initialized_mutex", "reset_cache")
    return (cc, CacheInterface) if all(hasattr(cc, n) for n in needed) else (None, None)


def _set_options(jax, folder: str) -> None:
    jax.config.update("jax_compilation_cache_dir", folder)
    for option, value in (
        ("jax_persistent_cache_min_compile_time_secs", 0.0),
        ("jax_persistent_cache_min_entry_size_bytes", 0),
        ("jax_compilation_cache_check_contents", False),
    ):
        with contextlib.suppress(AttributeError, KeyError, ValueError):
            jax.config.update(option, value)


def enable(folder: str | os.PathLike | None = None) -> str:
    """Keep compiled programs in ``folder`` (default: the per-user ``jaxbp/xla``), signed.

    Every program JAX reads from the persistent cache is first checked against its
    HMAC (see the module docstring for what is trusted); a failing entry is
    discarded, recompiled and replaced, with one line on stderr naming the folder.

    Args:
        folder: the cache folder, created (mode 0700) when missing.

    Returns:
        The folder, or ``""`` when this JAX has no cache hook or the folder cannot
        be written (then nothing is cached and JAX compiles as usual).

    >>> import tempfile, jax, jax.numpy as jnp
    >>> d = enable(tempfile.mkdtemp())
    >>> float(jax.jit(lambda x: x * 0.5)(jnp.float32(3.0)))
    1.5
    >>> any(name.endswith("-signed") for name in os.listdir(d))
    True
    """
    import jax

    if folder is None:
        from jaxbp._files import user_cache_dir

        folder = user_cache_dir("xla")
    folder = os.path.abspath(os.fspath(folder))
    cc, interface = _jax_cache_module()
    if cc is None:
        return ""
    try:
        cache = type("JaxbpSignedCache", (SignedCache, interface), {})(folder)
    except OSError as e:
        _warn(folder, f"cannot be used ({e}); compiled programs are not kept")
        return ""
    cc.reset_cache()
    _set_options(jax, folder)
    with cc._cache_initialized_mutex:
        cc._cache = cache
        cc._cache_initialized = True
    return folder
