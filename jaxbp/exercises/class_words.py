"""Every word the class grader prints, in English and Korean (the slides' terms, 합니다체).

Two tables, read with :func:`jaxbp.exercises.messages.say`:

* :data:`CLASS` - the command line's lines and the class page's words;
* :data:`LABELS` - a short label per kind of mistake, for the page's bar
  charts (the learner's report says each in a whole sentence:
  :data:`jaxbp.exercises.messages.KINDS`), and per way a file fails as a
  whole.  :func:`kind_label` falls back on the kind's own sentence, cut short,
  for a kind that has no label here.
"""

from __future__ import annotations

import re
import string

from jaxbp.exercises.messages import KINDS, say

__all__ = ["CLASS", "LABELS", "FILE_KINDS", "kind_label"]


def _k(en: str, ko: str) -> dict[str, str]:
    return {"en": en, "ko": ko}


CLASS: dict[str, dict[str, str]] = {
    # the command line
    "no_folder": _k("{folder}: no such folder", "{folder}: 폴더가 없습니다"),
    "not_folder": _k("{folder}: not a folder", "{folder}: 폴더가 아닙니다"),
    "unreadable_folder": _k("{folder}: cannot read it: {why}", "{folder}: 읽을 수 없습니다: {why}"),
    "empty": _k(
        "{folder}: no submissions in it (.py files or .ipynb notebooks)",
        "{folder}: 제출물(.py 파일이나 .ipynb 노트북)이 없습니다",
    ),
    "left_out": _k(
        "left out, neither .py nor .ipynb: {names}",
        ".py도 .ipynb도 아니어서 채점하지 않은 파일: {names}",
    ),
    "out_is_file": _k("--out {out}: a file, not a folder", "--out {out}: 폴더가 아니라 파일입니다"),
    "out_is_input": _k(
        "--out {out} is the submissions folder itself: choose another folder",
        "--out {out:은} 제출물 폴더 자체입니다: 다른 폴더를 고르세요",
    ),
    "out_foreign": _k(
        "--out {out} holds files but is not a jaxbp report (no {cache}): choose a new or "
        "empty folder, or add --force to write into it",
        "--out {out}에 파일이 있지만 jaxbp 채점 결과 폴더가 아닙니다({cache:이} 없습니다): "
        "새 폴더나 빈 폴더를 고르거나, --force를 붙여 그 폴더에 쓰세요",
    ),
    "out_unwritable": _k(
        "--out {out}: cannot write there: {why}", "--out {out}: 쓸 수 없습니다: {why}"
    ),
    "cache_ignored": _k(
        "{cache}: the saved grades are not used ({why}); every submission is graded again",
        "{cache}: 저장된 채점 결과를 쓰지 않습니다({why}). 모든 제출물을 다시 채점합니다",
    ),
    "why_json": _k("not valid JSON", "올바른 JSON이 아닙니다"),
    "why_foreign": _k("not a jaxbp grades file", "jaxbp의 채점 결과 파일이 아닙니다"),
    "why_version": _k(
        "made by another version of jaxbp or of its grader",
        "다른 버전의 jaxbp나 채점기가 만들었습니다",
    ),
    "why_settings": _k(
        "made with another --lang, --timeout or --memory",
        "다른 --lang, --timeout, --memory로 만들었습니다",
    ),
    "why_malformed": _k("malformed: {what}", "형식이 틀렸습니다: {what}"),
    "why_digest": _k("its checksum does not match", "체크섬이 맞지 않습니다"),
    "plan": _k(
        "{total} submissions: {cached} unchanged since the last run, {todo} to grade, "
        "{jobs} at a time",
        "제출물 {total}개: 지난번 이후 바뀌지 않은 것 {cached}개, 채점할 것 {todo}개 "
        "(동시에 {jobs}개씩)",
    ),
    "nothing_to_grade": _k(
        "nothing to grade: all {total} submissions are unchanged since the last run "
        "(--force grades them again)",
        "채점할 것이 없습니다: 제출물 {total}개 모두 지난번 이후 바뀌지 않았습니다 "
        "(--force를 주면 다시 채점합니다)",
    ),
    "progress": _k("graded", "채점"),
    "done_line": _k("{done}/{todo} {student}: {summary}", "{done}/{todo} {student}: {summary}"),
    "wrote": _k("wrote {html} and {csv}", "{html}, {csv:을} 썼습니다"),
    "interrupted": _k(
        "interrupted: {done} of {todo} submissions graded, kept in {out} (run again to grade "
        "the rest)",
        "중단됨: 제출물 {todo}개 중 {done}개를 채점해 {out}에 남겼습니다 (다시 실행하면 "
        "나머지를 채점합니다)",
    ),
    "grader_failed": _k(
        "the grader itself failed on this file ({exc}: {msg}); it is graded again next run",
        "채점기 자체가 이 파일에서 실패했습니다({exc}: {msg}). 다음 실행 때 다시 채점합니다",
    ),
    "unreadable": _k(
        "{file}: {why}; nothing was graded", "{file}: {why}. 아무것도 채점하지 않았습니다"
    ),
    "why_encoding": _k("not UTF-8 text", "UTF-8 텍스트가 아닙니다"),
    "why_notebook": _k("not a Jupyter notebook ({detail})", "Jupyter 노트북이 아닙니다 ({detail})"),
    "why_os": _k("cannot read it: {detail}", "읽을 수 없습니다: {detail}"),
    # the page
    "page_title": _k("Class report: {title}", "반 전체 채점 결과: {title}"),
    "lead": _k(
        "{students} students, {exercises} exercises; graded by jaxbp {version}",
        "학생 {students}명, 연습문제 {exercises}개. jaxbp {version}로 채점했습니다",
    ),
    "rates_h": _k("Pass rate per exercise", "연습문제별 통과율"),
    "rate": _k(
        "{passed} of {students} passed ({pct}%)", "{students}명 중 {passed}명 통과 ({pct}%)"
    ),
    "mistakes_h": _k("The most common mistakes, per exercise", "연습문제별로 가장 흔한 실수"),
    "mistakes_lead": _k(
        "The kinds of mistake the grader named, and how many students made each: what to "
        "go over in the next lecture.",
        "채점기가 알아낸 실수의 종류와 그 실수를 한 학생 수입니다. 다음 강의에서 다시 "
        "설명할 내용입니다.",
    ),
    "no_mistakes": _k("No exercise failed.", "실패한 연습문제가 없습니다."),
    "more_kinds": _k("and {n} more kinds", "그 밖의 종류 {n}개"),
    "files_h": _k("Files that did not run", "실행되지 않은 파일"),
    "students_h": _k("Students", "학생별 결과"),
    "students_n": _k("{n} students", "{n}명"),
    "students_1": _k("1 student", "1명"),
    "student": _k("student", "학생"),
    "file": _k("file", "파일"),
    "score": _k("passed", "통과"),
    "file_failed": _k("the file did not run: {what}", "파일이 실행되지 않았습니다: {what}"),
    # the outcomes of one exercise, as the page and the summary lines say them
    "passed": _k("passed", "통과"),
    "failed": _k("failed", "실패"),
    "incomplete": _k("incomplete", "미완성"),
    "skipped": _k("skipped", "건너뜀"),
    "timed_out": _k("timed out", "시간 초과"),
    "error": _k("error", "오류"),
}

# How a file fails as a whole (the CSV's file_error column), beside the kinds of mistake.
FILE_KINDS = ("syntax_error", "import_error", "import_timeout", "import_exited", "unreadable",
              "grader_error")  # fmt: skip

LABELS: dict[str, dict[str, str]] = {
    "values": _k("wrong values", "값이 틀림"),
    "wrong_shape": _k("wrong shape", "형상이 틀림"),
    "transposed": _k("transposed (the answer's transpose)", "전치됨 (정답의 전치행렬)"),
    "sign": _k("sign flipped", "부호가 반대"),
    "zeros": _k("all zeros (forgotten?)", "모두 0 (빠뜨림?)"),
    "bias_missing": _k("a bias left out of the forward pass", "순전파에서 편향을 빠뜨림"),
    "factor_n": _k("a missing / N (off by the batch size)", "/ N을 빠뜨림 (배치 크기만큼 틀림)"),
    "factor_inv_n": _k("divided by N once too often", "N으로 한 번 더 나눔"),
    "factor": _k("off by a constant factor", "상수배만큼 틀림"),
    "inexact": _k("close, but off by more than rounding", "거의 맞지만 반올림 오차보다 큼"),
    "missing_factor": _k("a factor missing", "인수가 빠짐"),
    "extra_factor": _k("an extra factor", "인수가 더 곱해짐"),
    "ignores_dout": _k("dout not used (the chain rule)", "dout을 쓰지 않음 (연쇄법칙)"),
    "not_summed": _k("not summed over the batch", "배치 축으로 합하지 않음"),
    "wrong_axis": _k("summed over the wrong axis", "다른 축으로 합함"),
    "unstable": _k("numerically unstable (NaN or inf)", "수치적으로 불안정 (NaN이나 inf)"),
    "not_swapped": _k(
        "multiplication node: inputs not swapped", "곱셈 노드: 입력을 서로 바꾸지 않음"
    ),
    "relu_mask_inverted": _k("ReLU mask inverted (backward)", "ReLU의 mask가 반대 (역전파)"),
    "relu_mask_strict": _k("ReLU mask x < 0, not x <= 0", "ReLU의 mask가 x <= 0이 아니라 x < 0"),
    "relu_fwd_mask_inverted": _k("ReLU mask inverted (forward)", "ReLU의 mask가 반대 (순전파)"),
    "sigmoid_dout_y": _k("dout * y: the factor (1 - y) missing", "dout * y: (1 - y)가 빠짐"),
    "sigmoid_dout_1my": _k("dout * (1 - y): the factor y missing", "dout * (1 - y): y가 빠짐"),
    "sigmoid_y_y": _k(
        "dout * y * y, not dout * y * (1 - y)", "dout * y * (1 - y)가 아니라 dout * y * y"
    ),
    "sigmoid_used_x": _k("the input x used, not the output y", "출력 y가 아니라 입력 x를 씀"),
    "sigmoid_fwd_sign": _k("1 / (1 + exp(x)): the sign of x", "1 / (1 + exp(x)): x의 부호"),
    "w_not_transposed": _k("dx = dout . W, not dout . W^T", "dx = dout . W^T가 아니라 dout . W"),
    "layers_order": _k("the layers' backward in the wrong order", "계층의 역전파 순서가 틀림"),
    "signature": _k("a signature that cannot be called", "호출할 수 없는 시그니처"),
    "args_order": _k("bwd's arguments in the wrong order", "bwd 인수의 순서가 틀림"),
    "fwd_structure": _k(
        "fwd does not return (out, residuals)", "fwd가 (out, residuals)를 반환하지 않음"
    ),
    "bwd_structure": _k(
        "bwd does not return one cotangent per input", "bwd가 입력마다 cotangent를 반환하지 않음"
    ),
    "grads_structure": _k("the gradients' keys are wrong", "기울기 딕셔너리의 키가 틀림"),
    "not_array": _k("returns something that is not an array", "배열이 아닌 값을 반환함"),
    "in_place": _k("assigns into a JAX array", "JAX 배열에 값을 대입함"),
    "not_traceable": _k("a traced value used as a Python value", "추적 값을 파이썬 값처럼 씀"),
    "shape_error": _k("shapes do not fit (a transpose?)", "형상이 맞지 않음 (전치?)"),
    "raised": _k("raised an exception", "예외 발생"),
    "not_implemented": _k("raised NotImplementedError", "NotImplementedError 발생"),
    "memory": _k("ran out of memory", "메모리 부족"),
    "recursion": _k("endless recursion", "끝없는 재귀 호출"),
    "timeout": _k("timed out (an endless loop?)", "시간 초과 (무한 루프?)"),
    "exited": _k("ended the grading process (sys.exit?)", "채점 프로세스를 끝냄 (sys.exit?)"),
    "died": _k("the grading process died", "채점 프로세스가 죽음"),
    "in_jax": _k("fails as a jax.custom_vjp rule", "jax.custom_vjp 규칙으로는 실패"),
    # a file as a whole
    "syntax_error": _k("syntax error", "문법 오류"),
    "import_error": _k("raised an error while importing", "불러오는 중 예외 발생"),
    "import_timeout": _k(
        "importing it timed out (a loop at the top level?)",
        "불러오기 시간 초과 (최상위 수준의 무한 루프?)",
    ),
    "import_exited": _k(
        "ended the grading process while importing (sys.exit?)",
        "불러오는 중 채점 프로세스를 끝냄 (sys.exit?)",
    ),
    "unreadable": _k("not readable as code", "코드로 읽을 수 없음"),
    "grader_error": _k("the grader failed on it", "채점기가 실패함"),
}


def _cut(sentence: str) -> str:
    """A kind's sentence as a label: up to its first ``: `` or `` (``, fields as ``…``."""
    short = re.split(r": | \(", sentence, maxsplit=1)[0]
    parts = string.Formatter().parse(short)
    return "".join(text + ("…" if field is not None else "") for text, field, _, _ in parts)


def kind_label(kind: str, lang: str) -> str:
    """The chart's label for mistake ``kind`` in ``lang``, in words.

    >>> kind_label("relu_mask_strict", "en"), kind_label("sign", "ko")
    ('ReLU mask x < 0, not x <= 0', '부호가 반대')
    """
    if kind in LABELS:
        return say(LABELS, kind, lang)
    if kind in KINDS:
        return _cut(KINDS[kind][lang]) or kind.replace("_", " ")
    return kind.replace("_", " ")
