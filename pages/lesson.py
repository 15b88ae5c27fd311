"""Lesson: the whole story of a built-in pair in five steps — predict, run live, reveal what was measured.

Each step asks the class first, then runs the same library calls as its full page (under the same cache keys, so
what ran before is instant) and explains the answer from the numbers it just measured (``da_core.lesson``).
"""

from __future__ import annotations

import time
import uuid

import streamlit as st

from da_core import lesson
from da_core.config import DEFAULT_SOURCE, DEFAULT_TARGET, DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET
from da_core.errors import DAError
from pages import _history, _lesson_steps, _lesson_study, _ui

PAIRS = {"image": (DEFAULT_SOURCE, DEFAULT_TARGET), "text": (DEFAULT_TEXT_SOURCE, DEFAULT_TEXT_TARGET)}
PAIR_LABELS = {"image": "digits: printed → handwritten", "text": "sentiment: movie reviews → tweets"}
PRESENTER_CSS = """<style>
html { font-size: 21px; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] { display: none; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.25rem; }
[data-testid="stCaptionContainer"] { font-size: 1.05rem; }
h1 { font-size: 2.6rem !important; } h3 { font-size: 1.9rem !important; }
</style>"""

_ui.init_state()
SESSION = st.session_state.setdefault("_lesson_session", uuid.uuid4().hex)


def _use_pair() -> None:
    """The lesson's pair becomes the session's, so every page it links to shows the same data."""
    choice = st.session_state["lesson_pair"]
    st.session_state["source_spec"], st.session_state["target_spec"] = PAIRS[choice]


def _ask_again(prefix: str) -> None:
    """Callback: hide the step's answer and clear its prediction."""
    _ui.keep(f"{prefix}_run", False)
    st.session_state.pop(f"{prefix}_guess", None)


def _go(delta: int) -> None:
    index = lesson.STEP_KEYS.index(st.session_state["lesson_step"])
    st.session_state["lesson_step"] = lesson.STEP_KEYS[min(max(index + delta, 0), len(lesson.STEPS) - 1)]


# ------------------------------------------------------------------------------------------ header
top = st.columns([3, 2, 1], vertical_alignment="bottom")
presenter = top[2].toggle("Presenter mode", key="lesson_presenter",
                          help="Larger type and figures, fewer controls: readable from the back of a room.")
if presenter:
    st.html(PRESENTER_CSS)
top[0].title("Lesson")
current = next((m for m, pair in PAIRS.items() if pair == (st.session_state["source_spec"],
                                                            st.session_state["target_spec"])), None)
if "lesson_pair" not in st.session_state:
    st.session_state["lesson_pair"] = current or "image"
    if current is None:  # another pair was loaded: the lesson tells its story on a built-in one (set just below)
        st.info("The lesson uses a built-in pair; the other pages now show it too (the Datasets page changes it).")
top[1].selectbox("Pair", list(PAIRS), key="lesson_pair", format_func=PAIR_LABELS.get, disabled=presenter)
if (st.session_state["source_spec"], st.session_state["target_spec"]) != PAIRS[st.session_state["lesson_pair"]]:
    _use_pair()  # the lesson's pair becomes the session's, whichever way it changed
st.markdown("**Domain shift in five steps**, on a built-in pair.")
if not presenter:
    st.write("Each step asks the class a question first. Then **Run and reveal** measures the answer live on "
             "this machine and explains it from the numbers just measured. Every step links to its full page.")
source, target, _ = _ui.load_pair()
ctx = _lesson_steps.Context(source, target, *PAIRS[st.session_state["lesson_pair"]], presenter)

st.session_state.setdefault("lesson_step", lesson.STEP_KEYS[0])
st.segmented_control("Step", lesson.STEP_KEYS, key="lesson_step", label_visibility="collapsed",
                     format_func=lambda k: lesson.step(k).title, required=True)
step = lesson.step(st.session_state["lesson_step"])

# ------------------------------------------------------------------------------------------ the step
st.subheader(step.title)
manager = _history.job_manager() if step.key == "compare" else None
was_cached, estimate, basis = _lesson_steps.timing(ctx, step.key, manager)
st.caption(f":material/timer: This step: {lesson.expected(step.key, ctx.modality, was_cached, estimate, basis)}.")
prefix = f"lesson_{ctx.modality}_{step.key}"
answers = step.answers
guess = st.radio(f"**Predict:** {lesson.question(step.key)}", range(len(answers)), index=None,
                 key=f"{prefix}_guess", format_func=lambda i: answers[i])
asked = st.session_state.get(f"{prefix}_run", False)
if not asked:
    st.button("Run and reveal", key=f"{prefix}_go", type="primary", icon=":material/play_arrow:",
              on_click=_ui.keep, args=(f"{prefix}_run", True))
started = time.perf_counter()
try:
    if step.key == "compare":
        reveal = _lesson_study.compare(ctx, asked, manager, SESSION)
    else:
        reveal = getattr(_lesson_steps, step.key)(ctx, asked)
except DAError as exc:
    st.error(f"**This step could not run.** {exc}")
    st.stop()
if reveal is not None:
    if asked and not was_cached and step.key != "compare":
        lesson.record_seconds(step.key, ctx.modality, time.perf_counter() - started)
    st.markdown(f"### {reveal.headline}")
    (st.success if guess == reveal.correct else st.info)(reveal.verdict(guess, answers))
    for sentence in reveal.sentences:
        st.markdown(sentence)
    st.button("Ask again", key=f"{prefix}_again", icon=":material/replay:", on_click=_ask_again, args=(prefix,),
              help="Hide the answer and clear the prediction, for the next class.")
elif step.key == "compare" and asked:
    st.caption("The runs go on in the background; this view follows them and reveals the answer when they end.")

nav = st.columns([1, 1, 4])
nav[0].button("← Previous", key="lesson_prev", on_click=_go, args=(-1,), disabled=step.key == lesson.STEP_KEYS[0])
nav[1].button("Next →", key="lesson_next", on_click=_go, args=(1,), disabled=step.key == lesson.STEP_KEYS[-1])
if not presenter:
    nav[2].page_link(step.page, label=f"Open the full {step.page_label} page", icon=":material/open_in_new:")
