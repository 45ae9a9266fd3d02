"""The human review of T1's outputs before they become D_seed (paper Sec. 4.1.3), as notebook 02 runs it.

`start_review` picks the review for `filtering.review_policy` and where the notebook runs
(`filtering.review_mode`): in a live JupyterLab kernel with `interactive` (smoke, cpu) or `manual`
(paper) a person reviews a queue -- the flagged outputs first, then a sample of
`filtering.review_clean_sample` clean ones -- in `review_widget`; under papermill (`make reproduce`)
the documented automatic policy applies (accept clean outputs, reject flagged ones). A person's
decision always wins over an automatic one (`filtering.ReviewSession`).

`Review.export()` writes D_seed. In a live review it refuses, with a message, while queue items
await a person, so Run All cannot skip the review; the widget's "Export D_seed (n reviewed by a
person, m automatic)" button, or `export(confirm=True)`, exports a half-reviewed queue explicitly:
outputs no person decided get the automatic decision.
"""
from __future__ import annotations

import html
import json
import random
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from lantern_nb import frontend
from lantern_nb.filtering import (Decision, Flag, FilterReport, ReviewSession, auto_review, export_seed, review_mode,
                                  review_path)
from lantern_nb.profiles import Profile
from lantern_nb.schema import Pair, read_jsonl
from lantern_nb.teachers.base import TeacherOutput
from lantern_nb.teachers.parse import ParseError, parse_fit_result

KEYS: dict[str, str] = {"a": "accept", "r": "reject", "e": "edit", "s": "skip", "b": "back", "u": "undo"}
_LABEL_COLORS = {"Low": "#c9302c", "Medium": "#b07400", "High": "#3c8d3c"}
_TEXT = "line-height:1.45;font-size:13px;box-sizing:border-box;max-width:100%;overflow-wrap:anywhere"
_BOX = ("white-space:pre-wrap;line-height:1.35;font-size:12px;max-height:220px;overflow-y:auto;overflow-x:hidden;"
        "border:1px solid #ccc;border-radius:3px;padding:4px 6px;margin:2px 0;box-sizing:border-box")


def review_queue(report: FilterReport, clean_sample: int, seed: int = 0) -> list[str]:
    """What a person reviews, in order: every flagged output, then `clean_sample` clean ones drawn
    with `seed` (kept in corpus order)."""
    flagged = [pid for pid, f in report.flags.items() if f]
    clean = [pid for pid, f in report.flags.items() if not f]
    picked = set(random.Random(seed).sample(clean, min(clean_sample, len(clean))))
    return flagged + [pid for pid in clean if pid in picked]


def verdict_html(pair: Pair, output: TeacherOutput, flags: Sequence[Flag]) -> str:
    """The reviewer's summary of one output: label, score, flags, explanation lines, the
    qualification verdicts with their evidence, then the job and the résumé side by side."""
    esc = html.escape
    r = output.result
    if r is None:
        head = (f"<div style='color:#c9302c'><b>Rejected by the parser</b>: {esc(output.error or '')}</div>"
                "<div>The raw output is under <i>Raw JSON / edit</i>.</div>")
        body = ""
    else:
        color = _LABEL_COLORS.get(r.label, "#333")
        head = (f"<div style='font-size:15px'><b>Label</b> <span style='color:#fff;background:{color};"
                f"padding:1px 8px;border-radius:8px'>{esc(r.label)}</span> &nbsp; <b>score</b> {r.score:.2f}</div>")
        lines = "".join(f"<li>{esc(x)}</li>" for x in r.explanation) or "<li><i>no lines</i></li>"
        items = "".join(
            f"<li><b>{esc(e.verdict)}</b> &middot; {esc(e.qualification)}"
            + (f" <span style='color:#666'>&mdash; &ldquo;{esc(e.evidence)}&rdquo;</span>" if e.evidence else "")
            + "</li>" for e in r.evaluation)
        body = (f"<div><b>Explanation</b><ol style='margin:2px 0 4px 0'>{lines}</ol></div>"
                f"<details><summary><b>Qualifications</b> ({len(r.evaluation)} verdicts, evidence quoted)</summary>"
                f"<ul style='margin:2px 0'>{items}</ul></details>")
    flag_html = ("<ul style='margin:2px 0 4px 0'>" + "".join(
        f"<li><b style='color:#c9302c'>{esc(f.code)}</b>: {esc(f.message)}</li>" for f in flags) + "</ul>"
        if flags else " <span style='color:#3c8d3c'>none (a clean output, sampled for a spot check)</span>")
    texts = (f"<div style='display:flex;gap:8px;max-width:100%'>"
             f"<div style='flex:1 1 0;min-width:0'><b>Job</b><div style='{_BOX}'>{esc(pair.job_text)}</div></div>"
             f"<div style='flex:1 1 0;min-width:0'><b>Résumé</b><div style='{_BOX}'>{esc(pair.resume_text)}</div>"
             f"</div></div>")
    return (f"<div class='lantern-verdict' style='{_TEXT}'>{head}<div><b>Validator flags</b>{flag_html}</div>"
            f"{body}{texts}<div style='color:#888;font-size:11px'>{esc(pair.pair_id)}</div></div>")


class ReviewWidget:
    """Accept / Reject / Edit / Skip / Back / Undo over `queue`, with keyboard shortcuts typed
    into the "keys" box (`KEYS`). Display it as a cell's last expression.

    Opens at the first item no person has decided, so reopening resumes. Decisions go to `session`
    (append + fsync). Progress stays in the top line; messages (a refused edit with the parser's
    reason) have their own line below it. `on_export` (optional) is called by the export button
    and returns the message to show."""

    def __init__(self, pairs: Sequence[Pair], outputs: Sequence[TeacherOutput],
                 flags: Mapping[str, Sequence[Flag]] | FilterReport, session: ReviewSession,
                 queue: Sequence[str] | None = None, on_export: Callable[[], str] | None = None,
                 export_counts: Callable[[], tuple[int, int]] | None = None) -> None:
        import ipywidgets as w

        self.session = session
        self.flags = flags.flags if isinstance(flags, FilterReport) else flags
        self.pairs = {p.pair_id: p for p in pairs}
        self.outputs = {o.pair_id: o for o in outputs}
        self.queue = list(queue) if queue is not None else [o.pair_id for o in outputs]
        self.history: list[str] = []
        self.on_export, self.export_counts = on_export, export_counts
        self.exported_version: int | None = None
        self.version = 0
        self.status = w.HTML(layout=w.Layout(width="auto"))
        self.progress = w.IntProgress(min=0, max=max(1, len(self.queue)), layout=w.Layout(width="auto"))
        self.message = w.HTML(layout=w.Layout(width="auto"))
        self.view = w.HTML(layout=w.Layout(width="auto"))
        self.editor = w.Textarea(layout=w.Layout(width="auto", height="260px", display="none"))
        self.raw = w.ToggleButton(description="Raw JSON / edit", icon="code", value=False,
                                  tooltip="show the teacher's output JSON; edit it, then press Edit (e)")
        spec = (("accept", "success", "check", "a"), ("reject", "danger", "times", "r"),
                ("edit", "warning", "pencil", "e"), ("skip", "", "forward", "s"), ("back", "", "backward", "b"),
                ("undo", "", "undo", "u"))
        self.buttons = {k: w.Button(description=f"{k.capitalize()} ({key})", button_style=style, icon=icon,
                                    layout=w.Layout(width="auto"), tooltip=f"{k} (key {key})")
                        for k, style, icon, key in spec}
        self.keys = w.Text(value="", continuous_update=True, placeholder="keys: click here, then a r e s b u",
                           layout=w.Layout(width="230px"))
        self.keys.add_class("lantern-review-keys")
        self.export_button = w.Button(button_style="primary", icon="download", layout=w.Layout(width="auto"))
        self.export_button.layout.display = None if on_export else "none"
        for kind, b in self.buttons.items():
            b.on_click(lambda _b, kind=kind: self.act(kind))
        self.raw.observe(lambda ch: self._show_editor(ch["new"]), names="value")
        self.keys.observe(self._on_key, names="value")
        self.export_button.on_click(lambda _b: self._export())
        self.box = w.VBox([self.status, self.progress, self.message, self.view,
                           w.HBox([*self.buttons.values(), self.keys], layout=w.Layout(flex_flow="row wrap")),
                           self.raw, self.editor, self.export_button],
                          layout=w.Layout(width="auto", overflow="hidden"))
        self.box.add_class("lantern-review")
        pending = self.session.pending(self.queue)
        self.pos = self.queue.index(pending[0]) if pending else len(self.queue)
        self.show()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.box._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ state
    @property
    def current(self) -> str | None:
        return self.queue[self.pos] if self.pos < len(self.queue) else None

    def _next_pending(self, exclude_current: bool) -> int:
        n = len(self.queue)
        order = list(range(self.pos + 1, n)) + list(range(0, min(self.pos, n)))
        if not exclude_current and self.pos < n:
            order.append(self.pos)
        return next((i for i in order if not self.session.decided_by_person(self.queue[i])), n)

    def _say(self, text: str, error: bool = False) -> None:
        color = "#c9302c" if error else "#555"
        self.message.value = f"<div style='color:{color};{_TEXT}'>{text}</div>" if text else ""

    def _show_editor(self, visible: bool) -> None:
        self.editor.layout.display = None if visible else "none"
        if self.raw.value != visible:
            self.raw.value = visible

    def show(self) -> None:
        """Redraw the counter, the current item and the buttons' state."""
        n = len(self.queue)
        done = sum(self.session.decided_by_person(p) for p in self.queue)
        self.progress.value = done
        pid = self.current
        where = f"item {self.pos + 1} of {n}" if pid else "end of the queue"
        kind = ""
        if pid:
            kind = " (flagged)" if self.flags.get(pid) else " (clean sample)"
        status = f"<b>Review</b> &middot; {where}{kind} &middot; <b>{done}/{n}</b> decided by a person"
        if self.exported_version is not None:
            status += (" &middot; D_seed exported" if self.exported_version == self.version
                       else " &middot; <span style='color:#b07400'>D_seed out of date: export again</span>")
        self.status.value = f"<div style='{_TEXT}'>{status}</div>"
        if self.export_counts is not None:
            h, m = self.export_counts()
            self.export_button.description = f"Export D_seed ({h} reviewed by a person, {m} automatic)"
        for k in ("accept", "reject", "edit", "skip"):
            self.buttons[k].disabled = pid is None
        self.buttons["back"].disabled = self.pos == 0
        self.buttons["undo"].disabled = not self.history
        if pid is None:
            self.view.value = (f"<div style='{_TEXT}'><b>All {n} outputs in the review queue are decided by a "
                               "person.</b> Export D_seed with the button below (or <code>review.export()</code>); "
                               "Back and Undo still work.</div>")
            self.editor.value = ""
            return
        o = self.outputs[pid]
        mine = self.session.human.get(pid)
        auto = self.session.auto.get(pid)
        note = ""
        if mine is not None:
            note = f"<div style='color:#3c8d3c'>Your decision: <b>{mine.decision}</b> ({mine.timestamp})</div>"
        elif auto is not None:
            note = (f"<div style='color:#888'>Automatic decision on file: {auto.decision} "
                    "(a decision of yours replaces it)</div>")
        self.view.value = note + verdict_html(self.pairs[pid], o, self.flags.get(pid, []))
        self.editor.value = json.dumps(o.result.to_dict(), indent=2, ensure_ascii=False) if o.result else o.raw
        if mine is not None and mine.edited is not None:
            self.editor.value = json.dumps(mine.edited, indent=2, ensure_ascii=False)

    # ------------------------------------------------------------------ actions
    def act(self, kind: str) -> None:
        """One action: accept, reject, edit, skip, back or undo (what the buttons and keys call)."""
        if kind == "back":
            self.pos = max(0, self.pos - 1)
            self._say("")
        elif kind == "undo":
            if not self.history:
                self._say("Nothing to undo in this widget.", error=True)
                return
            pid = self.history.pop()
            old = self.session.undo(pid)
            self.version += 1
            self.pos = self.queue.index(pid)
            self._say(f"Undid {old.decision if old else 'the decision'} of {html.escape(pid)}.")
        elif self.current is None:
            self._say("The queue is finished: Back or Undo to change a decision.", error=True)
            return
        elif kind == "skip":
            nxt = self._next_pending(exclude_current=True)
            if nxt == len(self.queue) and not self.session.decided_by_person(self.current):
                self._say("This is the last output awaiting a decision.", error=True)
                return
            self.pos = nxt
            self._say("Skipped; it stays pending.")
        elif kind in ("accept", "reject", "edit"):
            pid = self.current
            if kind == "edit":
                if not self.raw.value:
                    self._show_editor(True)
                    self._say("Correct the JSON below, then press Edit (e) again to save it.")
                    return
                try:
                    self.session.record(pid, "edit", parse_fit_result(self.editor.value).to_dict())
                except ParseError as e:
                    self._say(f"Edited JSON refused, nothing saved: {html.escape(e.reason)}", error=True)
                    return
            else:
                self.session.record(pid, kind)
            self.history.append(pid)
            self.version += 1
            self.pos = self._next_pending(exclude_current=True)
            self._say(f"{html.escape(pid)}: {kind} saved.")
        else:
            raise ValueError(f"unknown review action {kind!r}; one of {', '.join(KEYS.values())}")
        self.show()

    def _on_key(self, change: Mapping[str, Any]) -> None:
        typed = change["new"]
        if not typed:
            return
        self.keys.value = ""
        for ch in typed:
            kind = KEYS.get(ch.lower())
            if kind is None:
                self._say(f"Key {html.escape(ch)!s} does nothing; keys: "
                          + ", ".join(f"{k} {v}" for k, v in KEYS.items()), error=True)
            else:
                self.act(kind)

    def _export(self) -> None:
        if self.on_export is None:
            return
        self.export_button.disabled = True
        try:
            self._say(self.on_export())
            self.exported_version = self.version
        except Exception as e:  # shown, not raised into the void of a button callback
            self._say(f"Export failed: {html.escape(type(e).__name__)}: {html.escape(str(e))}", error=True)
        finally:
            self.export_button.disabled = False
            self.show()


def review_widget(pairs: Sequence[Pair], outputs: Sequence[TeacherOutput],
                  flags: Mapping[str, Sequence[Flag]] | FilterReport, session: ReviewSession,
                  queue: Sequence[str] | None = None, **kwargs: Any) -> ReviewWidget:
    """The review widget over `queue` (default: every output in `outputs`). In a papermill run
    with queue items pending it raises `ReviewPolicyError` (`review_mode`): no one would use it."""
    ids = list(queue) if queue is not None else [o.pair_id for o in outputs]
    review_mode("manual", frontend.under_papermill(), len(session.pending(ids)))
    return ReviewWidget(pairs, outputs, flags, session, ids, **kwargs)


def seed_summary(path: Path) -> str:
    """D_seed in a few lines: size, splits, teacher labels and one training target."""
    seed = list(read_jsonl(path))
    lines = [f"D_seed: {len(seed)} pairs -> {path}",
             f"by split: {dict(Counter(r['split'] for r in seed))}",
             f"by teacher label: {dict(Counter(r['teacher']['label'] for r in seed))}"]
    if seed:
        lines += ["", seed[0]["target"]]
    return "\n".join(lines)


class Review:
    """The review of notebook 02 for one run: the active policy, the queue, the widget, the export."""

    def __init__(self, cfg: Profile, pairs: Sequence[Pair], outputs: Sequence[TeacherOutput], report: FilterReport,
                 session: ReviewSession, interactive: bool) -> None:
        self.cfg, self.pairs, self.outputs, self.report, self.session = cfg, pairs, outputs, report, session
        self.interactive = interactive
        self.policy = cfg.filtering.review_policy
        self.queue = review_queue(report, cfg.filtering.review_clean_sample, cfg.seed)
        flagged_pending = len(session.pending(report.rejected))
        self.mode = review_mode(self.policy, batch=not interactive, pending=flagged_pending)
        self.live = self.mode == "manual" and interactive
        self._widget: ReviewWidget | None = None

    def counts(self) -> tuple[int, int]:
        """(outputs decided by a person, outputs the automatic policy decides) for an export now."""
        human = sum(self.session.decided_by_person(o.pair_id) for o in self.outputs)
        return human, len(self.outputs) - human

    def pending(self) -> list[str]:
        """Queue items no person has decided yet."""
        return self.session.pending(self.queue)

    def describe(self) -> str:
        """Which review is active here, what it does and how to switch."""
        n_flag, n_clean = len(self.report.rejected), len(self.report.accepted)
        human, _ = self.counts()
        to_auto = 'set OVERRIDES = {"filtering.review_policy": "auto"} in the parameters cell'
        if self.live:
            return (f"review_policy = {self.policy}, live kernel: a person reviews {len(self.queue)} outputs in the "
                    f"widget below -- the {n_flag} flagged ones first, then {len(self.queue) - n_flag} clean ones "
                    f"(filtering.review_clean_sample); {len(self.queue) - len(self.pending())} of them are decided by "
                    "a person so far. Then export D_seed with the widget's button (or review.export(confirm=True)); "
                    f"outputs no person decided get the automatic decision. To skip the review, {to_auto}.")
        where = "batch run (papermill)" if not self.interactive else "live kernel"
        how = ("To review by hand, open notebooks/02_filtering.ipynb in JupyterLab (`make lab`)"
               + (" with the profile's review_policy: interactive" if self.policy == "auto" else "")
               if not self.interactive else
               'To review in a widget, set OVERRIDES = {"filtering.review_policy": "interactive"}')
        return (f"review_policy = {self.policy}, {where}: the automatic policy applies -- accept the {n_clean} clean "
                f"outputs, reject the {n_flag} flagged ones, keeping the {human} decision(s) a person made. {how}.")

    def show(self) -> ReviewWidget | None:
        """The widget in a live review (display it as the cell's last expression); None otherwise."""
        if not self.live:
            return None
        if self._widget is None:
            self._widget = ReviewWidget(self.pairs, self.outputs, self.report, self.session, self.queue,
                                        on_export=lambda: self._export_message(), export_counts=self.counts)
        return self._widget

    def _export_message(self) -> str:
        human, auto = self.counts()
        path = self._write()
        n = sum(1 for _ in read_jsonl(path))
        return (f"D_seed exported at {datetime.now():%H:%M:%S}: {n} pairs ({human} outputs reviewed by a person, "
                f"{auto} decided automatically) -> {html.escape(str(path))}")

    def _write(self) -> Path:
        decisions = auto_review(self.report, self.session)
        return export_seed(self.cfg, self.pairs, self.outputs, decisions)

    def export(self, confirm: bool = False) -> Path | None:
        """Write D_seed and print its summary; returns its path.

        In a live review with queue items no person decided, nothing is written unless `confirm`
        (or the widget's button): the message says how many are pending and how to proceed, and
        None is returned. Outputs no person decided get the automatic decision."""
        pending = self.pending() if self.live else []
        if pending and not confirm:
            human, auto = self.counts()
            print(f"D_seed NOT exported yet: {len(pending)} of the {len(self.queue)} outputs in the review queue "
                  "await a person. Review them in the widget above, then click its 'Export D_seed' button; or run "
                  f"`review.export(confirm=True)` to export now with {human} output(s) reviewed by a person and "
                  f"{auto} decided automatically (clean accepted, flagged rejected).")
            return None
        human, auto = self.counts()
        path = self._write()
        if self.live:
            print(f"{human} output(s) reviewed by a person, {auto} decided automatically.")
        print(seed_summary(path))
        return path


def start_review(cfg: Profile, pairs: Sequence[Pair], outputs: Sequence[TeacherOutput], report: FilterReport,
                 interactive: bool | None = None, path: str | Path | None = None) -> Review:
    """The review of notebook 02 (prints which policy is active and how to switch).

    `interactive` defaults to `frontend.interactive_kernel()` (a live JupyterLab kernel);
    `path` to `filtering.review_path(cfg)`. Raises `ReviewPolicyError` for `review_policy: manual`
    in a batch run while flagged outputs await a person."""
    live = frontend.interactive_kernel() if interactive is None else interactive
    review = Review(cfg, pairs, outputs, report, ReviewSession(path or review_path(cfg)), live)
    print(review.describe())
    return review


__all__ = ["KEYS", "Review", "ReviewWidget", "Decision", "review_queue", "review_widget", "seed_summary",
           "start_review", "verdict_html"]
