# @title Install jaxbp / jaxbp 설치 { display-mode: "form" }
# The first cell of every jaxbp notebook. `python -m jaxbp.notebooks bundle OUT_DIR`, run in a
# jaxbp checkout, writes the notebooks with jaxbp's wheel in WHEEL below: this cell installs it
# when jaxbp is missing, after checking its SHA-256. Without a wheel it says how to get one.
import base64
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile

WHEEL_NAME = None
WHEEL_SHA256 = None
WHEEL = None  # the wheel, base64


class JaxbpSetupError(Exception):
    """Stops Run all here, shown as its one line (IPython prints no traceback for it)."""

    def _render_traceback_(self):
        return [str(self)]


def installed_jaxbp():
    if importlib.util.find_spec("jaxbp") is None:
        return None
    try:
        return importlib.metadata.version("jaxbp")
    except importlib.metadata.PackageNotFoundError:
        return "(a checkout)"


def install_jaxbp():
    have = installed_jaxbp()
    carried = WHEEL_NAME.split("-")[1] if WHEEL_NAME else None
    if have is not None and carried in (None, have):
        print(f"jaxbp {have} is installed here. / 이미 설치된 jaxbp를 씁니다(버전 {have}).")
        return
    if WHEEL is None:
        raise JaxbpSetupError(
            "jaxbp is not installed here, and this notebook does not carry it: open the notebook "
            "that `python -m jaxbp.notebooks bundle OUT_DIR` writes in a jaxbp checkout, which "
            "installs jaxbp from itself. / 여기에는 jaxbp가 설치되어 있지 않고 이 노트북에도 들어 "
            "있지 않으니, jaxbp 체크아웃에서 `python -m jaxbp.notebooks bundle OUT_DIR`로 만든 "
            "노트북을 여세요(그 노트북은 jaxbp를 스스로 설치합니다)."
        )
    data = base64.b64decode(WHEEL)
    if hashlib.sha256(data).hexdigest() != WHEEL_SHA256:
        raise JaxbpSetupError(
            f"The wheel in this notebook is damaged (its SHA-256 is not {WHEEL_SHA256}): write "
            "the notebook again with `python -m jaxbp.notebooks bundle`. / 이 노트북에 들어 있는 "
            "휠이 손상되었습니다(SHA-256이 다릅니다). `python -m jaxbp.notebooks bundle`로 "
            "노트북을 다시 만드세요."
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, WHEEL_NAME)
        with open(path, "wb") as f:
            f.write(data)
        pip = [sys.executable, "-m", "pip", "install", "-q", path]
        done = subprocess.run(pip, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise JaxbpSetupError(
            f"pip could not install {WHEEL_NAME}: {last} / pip으로 {WHEEL_NAME} 설치를 하지 "
            f"못했습니다: {last}"
        )
    importlib.invalidate_caches()
    print(
        f"Installed jaxbp {carried} from the wheel in this notebook (SHA-256 "
        f"{WHEEL_SHA256[:16]}... checked). / 이 노트북에 들어 있는 휠로 jaxbp {carried} 설치를 "
        f"마쳤습니다(SHA-256 {WHEEL_SHA256[:16]}... 확인)."
    )


if __name__ == "__main__":  # a notebook's cell runs as __main__; importing this file does not
    install_jaxbp()
