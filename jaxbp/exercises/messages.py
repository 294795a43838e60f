"""Every word the grader prints, in English and Korean (the slides' terms).

Four tables, one word per key:

* :data:`DERIVATION` - per exercise, the book's equation and *why* it is so;
  the hints read it;
* :data:`KINDS` - the kinds of mistake the grader can tell apart (the same
  keys as the mistake corpus in ``tests/corpus``), each with its hint;
* :data:`NOTES` - right answers written another way, said beside the pass;
* :data:`UI` - the report's own words.

The report's own words are written here; each chapter's are written in
:mod:`jaxbp.exercises.words5` (with the kinds every chapter shares),
``words6`` and ``words7``, and merged into these tables.

Korean follows the slides' vocabulary (순전파, 역전파, 연쇄법칙, 국소적 미분,
상류에서 넘어온 미분, 형상, 전치행렬, 정답 레이블) in 합니다체, and a
particle after a name is chosen by the name's last sound: ``{fn:을}`` prints
``relu_bwd를`` and ``{what:이}`` prints ``dW가`` (:func:`say`).
"""

from __future__ import annotations

import os
import re
import string

from jaxbp.exercises import words5, words6, words7
from jaxbp.exercises.words5 import entry

__all__ = [
    "DERIVATION",
    "KINDS",
    "NOTES",
    "UI",
    "LANGS",
    "choose_lang",
    "say",
    "hint",
    "particle",
    "syntax_message",
]

LANGS = ("en", "ko")

# ---- the report's own words -----------------------------------------------------------------
UI: dict[str, dict[str, str]] = {
    "passed": entry("passed", "통과"),
    "failed": entry("FAILED", "실패"),
    "skipped": entry("skipped", "건너뜀"),
    "incomplete": entry("incomplete", "미완성"),
    "passed_detail": entry(
        "forward and backward agree on {n} inputs ({which}), also as a jax.custom_vjp rule",
        "순전파와 역전파가 입력 {n}개({which})에서 일치하고, jax.custom_vjp 규칙으로도 일치합니다",
    ),
    "cases_pair": entry("batch 1 and larger, float64", "배치 1과 그 이상, float64"),
    "cases_relu": entry(
        "batch 1 and larger, inputs exactly 0, float64",
        "배치 1과 그 이상, 정확히 0인 입력, float64",
    ),
    "cases_softmax": entry(
        "batch 1 and larger, logits near 1000, float64",
        "배치 1과 그 이상, 1000 근처의 로짓, float64",
    ),
    "cases_affine": entry(
        "batch 1 and larger, non-square W, float64", "배치 1과 그 이상, 정사각이 아닌 W, float64"
    ),
    "passed_net": entry(
        "gradients of {keys} agree on {n} inputs", "{keys}의 기울기가 입력 {n}개에서 일치합니다"
    ),
    "not_defined": entry("{fn} is not defined", "{fn:이} 정의되지 않았습니다"),
    "not_callable": entry("{fn} is not a function", "{fn:은} 함수가 아닙니다"),
    "not_written": entry(
        "not written yet ({fn} raises NotImplementedError)",
        "아직 작성하지 않았습니다 ({fn:이} NotImplementedError를 던집니다)",
    ),
    "fwd_only": entry(
        "forward checked on {n} inputs; {fn} not written yet",
        "순전파는 입력 {n}개에서 확인했습니다. {fn:은} 아직 작성하지 않았습니다",
    ),
    "fwd_raised": entry(
        "forward checked on {n} inputs; {what}", "순전파는 입력 {n}개에서 확인했습니다. {what}"
    ),
    "forward": entry("forward ({fn})", "순전파 ({fn})"),
    "backward": entry("backward ({fn})", "역전파 ({fn})"),
    "as_rule": entry("as a jax.custom_vjp rule", "jax.custom_vjp 규칙으로"),
    "where": entry(" (line {line} of {file})", " ({file} {line}번째 줄)"),
    "input": entry("input", "입력"),
    "expected": entry("expected", "기대값"),
    "got": entry("got     ", "결과값"),
    "hint": entry("hint", "힌트"),
    "note": entry("note", "참고"),
    "an_array": entry("an array of shape {shape}", "형상 {shape}인 배열"),
    "array_of": entry("an array of {dtype} of shape {shape}", "형상 {shape}인 {dtype} 배열"),
    "tuple": entry("a tuple of {n}", "길이 {n}인 튜플"),
    "list": entry("a list of {n} (a tuple is needed)", "길이 {n}인 리스트 (튜플이어야 합니다)"),
    "dict": entry("a dict with keys {keys}", "키가 {keys}인 딕셔너리"),
    "other": entry("a {type}", "{type} 값"),
    "one_hot": entry("one-hot", "원-핫"),
    "summary": entry(
        "{passed} passed, {failed} failed, {incomplete} incomplete, {skipped} skipped",
        "통과 {passed}, 실패 {failed}, 미완성 {incomplete}, 건너뜀 {skipped}",
    ),
    "printed": entry("your code printed:", "여러분의 코드가 출력한 내용:"),
    "rules_verdict": entry(
        "your rules in this network: {rules}", "이 신경망에 쓰인 여러분의 규칙: {rules}"
    ),
    "rule_check": entry(
        "rule check of your {net} loss (jaxbp.rule_check, each rule at its own inputs): "
        "first wrong rule: node {node}, {name}",
        "여러분의 {net} 손실에 대한 규칙 검사 (jaxbp.rule_check, 각 규칙을 그 입력에서 "
        "검사): 처음 틀린 규칙은 노드 {node}, {name}입니다",
    ),
    "rule_check_ok": entry(
        "rule check of your {net} loss (jaxbp.rule_check): every rule agrees, so the "
        "mistake is in how {fn} puts them together",
        "여러분의 {net} 손실에 대한 규칙 검사 (jaxbp.rule_check): 모든 규칙이 "
        "일치하므로 {fn:이} 규칙을 조합하는 방식에 실수가 있습니다",
    ),
    "rule_check_not_run": entry(
        "rule check not run: {why}", "규칙 검사를 실행하지 않았습니다: {why}"
    ),
    "syntax_error": entry("{file}:{line}: syntax error: {msg}", "{file}:{line}: 문법 오류: {msg}"),
    "import_error": entry(
        "{file}: importing it raised {exc}: {msg}{where}",
        "{file}: 불러오는 중 {exc} 발생: {msg}{where}",
    ),
    "import_timeout": entry(
        "{file}: importing it did not finish within {seconds} s (an endless loop at the top "
        "level?); nothing was graded",
        "{file}: {seconds}초 안에 불러오기가 끝나지 않았습니다 (최상위 수준의 무한 루프입니까?). "
        "아무것도 채점하지 않았습니다",
    ),
    "import_exited": entry(
        "{file}: importing it ended the grading process ({how}); nothing was graded",
        "{file}: 불러오는 중 채점 프로세스가 끝났습니다 ({how}). 아무것도 채점하지 않았습니다",
    ),
    "no_file": entry("{file}: no such file", "{file}: 파일이 없습니다"),
    "interrupted": entry(
        "interrupted: {done} of {total} exercises graded",
        "중단됨: 연습문제 {total}개 중 {done}개 채점",
    ),
    "nothing": entry(
        "nothing to grade yet: no exercise is written (exit status 3)",
        "아직 채점할 것이 없습니다: 작성한 연습문제가 없습니다 (종료 상태 3)",
    ),
    "exists": entry(
        "{file} exists already; not overwritten (pick another name or remove it)",
        "{file:이} 이미 있어 덮어쓰지 않았습니다 (다른 이름을 쓰거나 지우세요)",
    ),
    "wrote": entry(
        "wrote {file}: fill in the bodies, then run: python -m jaxbp.exercises check {file}",
        "{file:을} 만들었습니다. 함수 본문을 채운 뒤 실행하세요: "
        "python -m jaxbp.exercises check {file}",
    ),
    "passed_function": {
        "en": "agrees on {n} inputs ({which})",
        "ko": "입력 {n}개({which})에서 일치합니다",
    },
    "passed_update": {
        "en": "params agree after every step of {n} runs ({steps} steps in all; the book's "
        "hyperparameters and others, gradients with exact zeros and entries of 1e-3), float64",
        "ko": "실행 {n}번의 모든 단계 뒤에 매개변수가 일치합니다(모두 {steps}단계, 책의 "
        "하이퍼파라미터와 다른 값, 정확히 0인 기울기와 1e-3인 기울기), float64",
    },
    "step": {"en": "step {step}", "ko": "{step}번째 단계"},
    "steps_input": {
        "en": "{params}; {steps} steps of gradients; {hyper}",
        "ko": "{params}; 기울기 {steps}단계; {hyper}",
    },
    "mixed_chapters": {
        "en": "{file} defines exercises of chapters {chapters} ({names}): keep one chapter per "
        "file, or say which: a first line # jaxbp exercises: chapter N in a file, "
        "check(globals(), chapter=N) in a notebook",
        "ko": "{file:은} {chapters}장의 연습문제를 함께 정의합니다({names}). 한 파일에는 한 "
        "장만 두거나, 어느 장인지 쓰세요: 파일에서는 첫 줄에 # jaxbp exercises: chapter N, "
        "노트북에서는 check(globals(), chapter=N)",
    },
}


# ---- every chapter's words, in one table each -------------------------------------------------
DERIVATION: dict[str, dict[str, dict[str, str]]] = {}
KINDS: dict[str, dict[str, str]] = {}
NOTES: dict[str, dict[str, str]] = {}
for _words in (words5, words6, words7):
    for _table, _more in (
        (DERIVATION, _words.DERIVATION),
        (KINDS, _words.KINDS),
        (NOTES, getattr(_words, "NOTES", {})),
        (UI, getattr(_words, "UI", {})),
    ):
        assert not set(_table) & set(_more), set(_table) & set(_more)  # one word per key
        _table.update(_more)


# ---- Python's syntax errors, said in Korean (the original follows in parentheses) -------------
SYNTAX_KO = (
    (r"expected ':'", "':'가 필요합니다"),
    (r"invalid syntax\. Perhaps you forgot a comma\?", "잘못된 문법입니다. 쉼표를 빠뜨렸습니까?"),
    (r"invalid syntax", "잘못된 문법입니다"),
    (r"unexpected indent", "예상하지 못한 들여쓰기입니다"),
    (r"expected an indented block.*", "들여쓴 블록이 필요합니다"),
    (r"unindent does not match any outer indentation level",
     "들여쓰기가 바깥 블록과 맞지 않습니다"),
    (r"inconsistent use of tabs and spaces in indentation", "들여쓰기에 탭과 공백을 섞어 썼습니다"),
    (r"'(.)' was never closed", "'\\1'가 닫히지 않았습니다"),
    (r"unmatched '(.)'", "짝이 없는 '\\1'입니다"),
    (r"closing parenthesis '(.)' does not match opening parenthesis '(.)'.*",
     "닫는 괄호 '\\1'가 여는 괄호 '\\2'와 짝이 맞지 않습니다"),
    (r"unterminated (triple-quoted )?string literal.*", "문자열이 닫히지 않았습니다"),
    (r"invalid character .*", "쓸 수 없는 문자가 있습니다"),
    (r"cannot assign to .*", "여기에는 값을 대입할 수 없습니다"),
    (r"'return' outside function", "함수 밖에서 return을 썼습니다"),
)  # fmt: skip


def syntax_message(msg: str, lang: str) -> str:
    """Python's syntax-error message ``msg`` in ``lang`` (Korean: the common ones
    translated, the original kept in parentheses).

    >>> syntax_message("expected ':'", "ko")
    "':'가 필요합니다 (expected ':')"
    """
    if lang != "ko":
        return msg
    for pattern, words in SYNTAX_KO:
        match = re.fullmatch(pattern, msg)
        if match:
            return f"{match.expand(words)} ({msg})"
    return msg


# ---- particles --------------------------------------------------------------------------------
_PAIRS = {"은": ("은", "는"), "이": ("이", "가"), "을": ("을", "를"), "과": ("과", "와")}
_PAIRS.update({v[1]: v for v in list(_PAIRS.values())})
# Latin letters and digits read aloud: those whose Korean reading ends in a consonant
# (엘, 엠, 엔, 알; 영, 일, 삼, 육, 칠, 팔, 십).
_CLOSED = set("lmnr" + "LMNR" + "0136780")


def particle(word: str, pair: str) -> str:
    """``word`` followed by the particle of ``pair`` its last sound takes.

    ``pair`` is either form: ``은``/``는``, ``이``/``가``, ``을``/``를``, ``과``/``와``.

    >>> particle("relu_bwd", "을"), particle("가중치", "은"), particle("형상", "이")
    ('relu_bwd를', '가중치는', '형상이')
    """
    closed_form, open_form = _PAIRS[pair]
    last = next((c for c in reversed(word) if c.isalnum()), "")
    if "가" <= last <= "힣":
        closed = (ord(last) - ord("가")) % 28 != 0
    else:
        closed = last in _CLOSED
    return word + (closed_form if closed else open_form)


class _Formatter(string.Formatter):
    """``{name:을}`` puts the right particle after ``name``; other specs as usual."""

    def format_field(self, value, format_spec):
        if format_spec in _PAIRS:
            return particle(str(value), format_spec)
        return super().format_field(value, format_spec)


_FORMAT = _Formatter()


def choose_lang(lang: str | None = None) -> str:
    """``lang`` itself, or from the environment (``LANG=ko_KR...`` gives Korean).

    Args:
      lang: ``"en"``, ``"ko"`` or ``None`` (then ``LC_ALL``, ``LC_MESSAGES``,
        ``LANG`` decide, in that order; anything not Korean is English).

    Returns:
      ``"en"`` or ``"ko"``.

    >>> choose_lang("ko")
    'ko'
    """
    if lang is None:
        env = next(
            (os.environ[k] for k in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(k)), ""
        )
        return "ko" if env.lower().startswith("ko") else "en"
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS} or None, got {lang!r}")
    return lang


def say(table: dict[str, dict[str, str]], key: str, lang: str, **fields: object) -> str:
    """The message ``key`` of ``table`` in ``lang``, its ``{fields}`` filled in.

    >>> say(UI, "not_defined", "ko", fn="relu_bwd")
    'relu_bwd가 정의되지 않았습니다'
    """
    return _FORMAT.format(table[key][lang], **fields)


def hint(table: dict[str, dict[str, str]], key: str, lang: str, **fields: object) -> str:
    """The kind's own hint in ``lang`` (``""`` if it has none)."""
    text = table[key].get(f"hint_{lang}", "")
    return _FORMAT.format(text, **fields) if text else ""
