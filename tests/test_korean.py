"""The project's Korean speaks with one voice: the glossary's terms, 합니다체, no `이(가)`.

``docs/glossary.ko.md`` lists one term per idea (the lecture slides' first) with the
variants not to use, and one style per kind of text.  Each source below is read for
its Korean: a Markdown file's prose (code blocks and code spans left out), a notebook's
markdown cells and its code cells' strings and comments, a Python module's strings and
comments.  A failure names the file (and cell) and the line.

What fails: a listed variant (not preceded by a Hangul syllable, so "하이퍼파라미터"
does not count as "파라미터"); a particle written both ways (``이(가)``, ``을(를)``,
``은(는)``, ``와(과)``, ``(으)로``); a sentence in 한다체 (ending ``-다`` other than
``-니다``, before ``.``/``!``/``?``/``:``/``(`` or at the end of a line or table cell) or in
해요체 (``-요.`` other than ``-세요``).  Text in quotation marks that goes on after the
closing mark (a quoted title or sentence of the book) is left as it is.
"""

from __future__ import annotations

import io
import json
import re
import tokenize
from pathlib import Path

import pytest
from test_docs import CODE_SPAN, FENCE

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.ko.md"

#: The Korean texts checked against the glossary: one line per source (the grader's
#: messages module is one more line: "jaxbp/exercises/messages.py").
SOURCES = [
    "README.ko.md",
    "jaxbp/exercises/messages.py",
    *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "examples").rglob("*.ipynb")),
]
SLIDES_TERMS = [
    "계산 그래프",
    "국소적 계산",
    "순전파",
    "역전파",
    "연쇄법칙",
    "국소적 미분",
    "계층",
    "기울기 확인",
    "에지",
]

H = "가-힣"
PARTICLES = re.compile(
    r"이\(가\)|가\(이\)|을\(를\)|를\(을\)|은\(는\)|는\(은\)|와\(과\)|과\(와\)|\(으\)로"
)
# a word ending in 다 at a sentence's end: before . ! ? ": " or a parenthesis that goes on
# with the sentence, or at the end of a line or table cell
PLAIN = re.compile(rf"[{H}]*다(?=[)\"'」』]?(?:[.!?(]|:(?:\s|$)|[ \t]*(?:$|\|)))", re.M)
POLITE = re.compile(rf"[{H}]*요(?=[)\"'」』]?[.!?])")


def glossary() -> list[tuple[str, list[str]]]:
    """``(term, variants)`` for each row of the glossary's table of terms, in order."""
    text = GLOSSARY.read_text(encoding="utf-8").split("## 용어", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    out = []
    for row in rows[1:]:  # after the header
        _, term, variants = (cell.strip() for cell in row.strip("|").split(" | "))
        out.append((term, re.findall(r"`([^`]+)`", variants)))
    return out


def _blank(m: re.Match) -> str:
    return re.sub(r"[^\n]", " ", m.group())


def markdown_prose(text: str) -> str:
    """Markdown without its code (blocks and spans) and HTML comments, lines kept."""
    text = re.sub(r"<!--.*?-->", _blank, text, flags=re.S)
    return CODE_SPAN.sub(_blank, FENCE.sub(_blank, text))


def python_words(source: str) -> str:
    """A Python source's strings and comments, everything else blanked, lines kept."""
    lines = source.splitlines()
    kept = [[" "] * len(line) for line in lines]
    middle = getattr(tokenize, "FSTRING_MIDDLE", None)  # Python 3.12+: f-strings in parts
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT, middle):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                a, b = (c0 if r == r0 else 0), (c1 if r == r1 else len(lines[r - 1]))
                kept[r - 1][a:b] = lines[r - 1][a:b]
    return "\n".join("".join(k) for k in kept)


def korean_texts(path: Path) -> list[tuple[str, str]]:
    """``(where, text)`` of each part of ``path`` that holds prose: the file, or each cell."""
    rel = path.relative_to(ROOT).as_posix()
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        out = []
        for i, cell in enumerate(cells):
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            read = markdown_prose if cell["cell_type"] == "markdown" else python_words
            out.append((f"{rel} cell {i}", read(src)))
        return out
    read = python_words if path.suffix == ".py" else markdown_prose
    return [(rel, read(path.read_text(encoding="utf-8")))]


def findings(text: str, where: str, variants: list[tuple[str, str]]) -> list[str]:
    """``WHERE:LINE: WHAT: 'MATCH'`` for each departure from the glossary in ``text``."""
    found = []

    def add(m: re.Match, what: str) -> None:
        found.append((m.start(), f"{what}: {m.group()!r}"))

    for term, variant in variants:
        for m in re.finditer(rf"(?<![{H}]){re.escape(variant)}", text):
            add(m, f"say {term!r}, not")
    for m in PARTICLES.finditer(text):
        add(m, "choose the particle by the final consonant")
    for m in PLAIN.finditer(text):
        if not m.group().endswith("니다"):
            add(m, "한다체: end the sentence in -ㅂ니다/-습니다")
    for m in POLITE.finditer(text):
        if not m.group().endswith("세요"):
            add(m, "해요체: end the sentence in -ㅂ니다/-습니다")
    return [f"{where}:{1 + text.count(chr(10), 0, at)}: {what}" for at, what in sorted(found)]


def _variants() -> list[tuple[str, str]]:
    return [(term, v) for term, vs in glossary() for v in vs]


@pytest.mark.parametrize("source", SOURCES)
def test_korean_follows_the_glossary(source):
    found = []
    for where, text in korean_texts(ROOT / source):
        found += findings(text, where, _variants())
    assert not found, f"{len(found)} found:\n" + "\n".join(found)


def test_the_glossary_puts_the_slides_terms_first_one_term_per_idea():
    terms = [term for term, _ in glossary()]
    assert terms[: len(SLIDES_TERMS)] == SLIDES_TERMS
    assert len(terms) == len(set(terms))
    variants = [v for _, vs in glossary() for v in vs]
    assert len(variants) == len(set(variants)) and not set(variants) & set(terms)
    for required in ("손으로 쓴", "직접 작성", "전진 모드", "엣지", "쌍둥이", "정상 경로"):
        assert required in variants
    text = GLOSSARY.read_text(encoding="utf-8")
    for kind in ("README.ko.md", "노트북", "채점기"):  # one style per kind of text
        assert re.search(rf"^\| [^|]*{kind}[^|]*\| [^|]*(합니다체)", text, re.M), kind


# The checks themselves: each flags what it should and only that.
@pytest.mark.parametrize(
    "text",
    [
        "손으로 쓴 규칙입니다.",
        "모든 엣지에 값을 씁니다.",
        "jaxbp.reference의 쌍둥이입니다.",
        "relu이(가) 틀렸습니다.",
        "값을(를) 돌려줍니다.",
        "노드를 그린 것이다. 왼쪽에서 오른쪽으로 진행합니다.",
        "| 곱셈 노드 | 입력을 서로 바꿔 곱한다 |",
        "역전파를 실행한다",
        "정답 레이블은 미분하지 않는다(그대로 둡니다).",
        "이렇게 계산해요.",
    ],
)
def test_each_departure_is_flagged(text):
    assert len(findings("첫 줄입니다.\n" + text, "DOC", _variants())) == 1


@pytest.mark.parametrize(
    "text",
    [
        "직접 쓴 규칙을 확인합니다. 아래 셀을 실행하세요.",
        "하이퍼파라미터와 에지를 씁니다: 다음과 같습니다.",
        '"역전파로 미분을 효율적으로 계산한다"는 5장의 주장입니다.',
        "float32와 bfloat16을 비교합니다(배치 100).",
        "모든 것이 들어 있습니다.",
    ],
)
def test_what_follows_the_glossary_is_not_flagged(text):
    assert findings(text, "DOC", _variants()) == []


def test_code_is_not_read_but_strings_and_comments_are(tmp_path):
    md = "설명입니다.\n```\nx = 1  # 한다\n```\n`결과를 돌려준다` 그리고 끝입니다.\n"
    assert findings(markdown_prose(md), "MD", []) == []
    py = 'def f():\n    return "값이 없다."  # 주석입니다\n\n\nsay = f"{x}을(를) 봅니다"\n'
    found = findings(python_words(py), "PY", [])
    assert [f.split(": ")[0] for f in found] == ["PY:2", "PY:5"]
