"""``StreamWidget``: the delta/snapshot machinery every praison_push widget shares.

Why deltas plus a snapshot (DESIGN.md, "Widgets"): a run streams thousands of
tokens a second, and a notebook widget must show it smoothly without sending
the whole text per token (bytes per token would grow with the text) and
without flooding Jupyter's IOPub channel. So:

* **Deltas.** State lives in named parts (:mod:`._parts`). Event handlers —
  called on client threads or loops, never in the cell — change parts and mark
  the widget dirty; the one shared :class:`~._flusher.Flusher` then sends what
  changed as a custom message ``{"kind": "delta", "seq": n, "parts": {...}}``,
  at most once per 50 ms per widget. ``seq`` rises by one per delta.
* **Snapshot.** The synced ``snapshot`` trait, ``{"seq": n, "parts": {...}}``,
  holds the full state as of delta ``n``. It is refreshed rarely: when a run
  ends, when the widget has been quiet for a while, and when a front end asks
  (``{"kind": "resync"}``, sent on a ``seq`` gap). A view rendered late, a
  second view, or a reloaded page starts from it; deltas at or below its
  ``seq`` are ignored, a delta above ``seq + 1`` triggers a resync.

The front end (``static/widgets.js``) keeps one store per model, built in
anywidget's ``initialize``, so every view of a model shows the same state.

* **Saved fallback.** A widget is displayed with a ``display_id`` and a
  ``text/html`` transcript beside its ``text/plain``; both are rewritten when
  what they say changes, so a saved notebook shows the final state
  (``notebook/saved.py``).
"""

from __future__ import annotations

import html
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import anywidget
import traitlets

from .. import saved as _saved
from ._flusher import Flusher, get_flusher
from ._parts import Part

__all__ = ["STATIC", "StreamWidget"]

logger = logging.getLogger("praison_push.notebook")

#: The front-end files: one ES module for every widget kind, and its styles.
STATIC = Path(__file__).resolve().parent.parent / "static"

#: Longest plain-text repr, in characters (a terminal shows the end of a long text).
REPR_CHARS = 20_000
#: The MIME type of a live widget view in a display bundle.
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class StreamWidget(anywidget.AnyWidget):
    """Base class: named parts, coalesced deltas, a snapshot for late and re-rendered views.

    Subclasses build their parts, change them under :attr:`_lock`, call
    :meth:`_changed`, and describe themselves in :meth:`_describe` (the plain
    text repr).

    Works without a kernel: anywidget then opens no comm and sends nothing,
    while the kernel-side state stays complete and readable.
    """

    _esm = STATIC / "widgets.js"
    _css = STATIC / "widgets.css"

    #: Which renderer of ``widgets.js`` draws this widget.
    _kind = traitlets.Unicode("").tag(sync=True)
    #: Names this widget's store in the front end (the model proxy anywidget
    #: hands to ``initialize`` and to ``render`` are different objects).
    _uid = traitlets.Unicode("").tag(sync=True)
    #: ``{"seq": n, "parts": {...}}``: the full state as of delta ``n``.
    snapshot = traitlets.Dict().tag(sync=True)

    #: The ``_kind`` of a subclass.
    KIND: ClassVar[str] = ""
    #: Seconds after creation before the first delta goes out: the front end is
    #: still loading the module and would drop what arrives before.
    open_grace: ClassVar[float] = 0.1

    def __init__(
        self, parts: Mapping[str, Part], *, flusher: Flusher | None = None, **traits: Any
    ) -> None:
        self._lock = threading.RLock()
        self._publish_lock = threading.Lock()
        self._parts = dict(parts)
        self._seq = 0
        self._published_seq = 0
        self._dirty = False
        self._closed = False
        self._detachers: list[Callable[[], None]] = []
        self._flusher = flusher or get_flusher()
        #: Set once displayed: every output of this widget shares it (see ``notebook/saved.py``).
        self._display_id: str | None = None
        self._saved_sent: tuple[str, str] | None = None  # the fallback last published
        self._saved_confirmed: tuple[str, str] | None = None  # ... while a cell ran
        #: Why the widget no longer follows anything (shown in its saved fallback).
        self._final_note = ""
        self.ready_at = time.monotonic() + self.open_grace
        super().__init__(_kind=self.KIND, _uid=uuid.uuid4().hex, snapshot=self._state(), **traits)
        self.on_msg(self._on_front_end_message)

    # --- what subclasses use -----------------------------------------------------------

    def _changed(self) -> None:
        """Parts changed (call with :attr:`_lock` held): have them flushed soon."""
        if not self._dirty and not self._closed:
            self._dirty = True
            self._flusher.mark(self)

    def _follow(self, start: Callable[[], object]) -> None:
        """Run ``start()`` (hook up the feed); close the widget again if it fails."""
        try:
            start()
        except BaseException:
            self.close()
            raise

    def _add_detacher(self, detach: Callable[[], None]) -> None:
        """Remember how to stop a feed; run on :meth:`close`."""
        with self._lock:
            if not self._closed:
                self._detachers.append(detach)
                return
        detach()

    def _before_flush(self) -> None:
        """Hook (lock held): bring derived values up to date before a delta or snapshot."""

    def _on_command(self, content: Mapping[str, Any]) -> None:
        """Hook: a message from the front end other than ``resync``."""

    def _describe(self) -> str:
        """The plain-text description behind ``repr()`` (lock held)."""
        return f"{type(self).__name__}()"

    def _describe_html(self) -> str:
        """The HTML transcript of the state, for the saved fallback (lock held)."""
        return f"<pre>{html.escape(self._describe())}</pre>"

    def _note_final(self, note: str) -> None:
        """Hook (lock held): the widget stops following its source (closed, kernel exit)."""
        self._final_note = self._final_note or note

    # --- public ----------------------------------------------------------------------------

    @property
    def seq(self) -> int:
        """The sequence number of the last delta (or snapshot) produced."""
        return self._seq

    def flush(self) -> bool:
        """Send pending changes now, ahead of the flusher; whether a delta was sent."""
        return self._flush_pending()

    def checkpoint(self) -> None:
        """Publish the full state as the ``snapshot`` trait now (pending changes included).

        Done automatically when a run ends, when the widget has been quiet, and
        when a front end asks; call it to save an up-to-date widget state with
        the notebook.
        """
        self._checkpoint()

    def close(self) -> None:
        """Stop following the source, stop sending, and close the comm."""
        lock = self.__dict__.get("_lock")
        if lock is None:  # the constructor failed before the widget was set up
            super().close()
            return
        with lock:
            detachers, self._detachers = self._detachers, []
            if not self._closed:
                self._note_final("closed")
            self._closed = True
        self._flusher.forget(self)
        self._publish_static()
        for detach in detachers:
            try:
                detach()
            except Exception as exc:
                logger.debug("detaching %s failed: %r", type(self).__name__, exc)
        super().close()

    # --- the saved fallback (see notebook/saved.py) ----------------------------------

    def _ipython_display_(self) -> None:
        """Display with a ``display_id``, so the saved fallback can follow the state."""
        data, metadata = self._bundle(live=True)
        if not _saved.in_kernel():
            # A terminal IPython: no widget view, and no output to update later.
            _saved.publish_text(data["text/plain"])
            return
        if self._display_id is None:
            self._display_id = f"praison-push-{self._uid}"
        with self._lock:
            self._saved_sent = self._saved_confirmed = (data["text/plain"], data["text/html"])
        _saved.publish(data, metadata, self._display_id, update=False)
        _saved.get_saved_outputs().track(self)

    def _bundle(self, *, live: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """The display bundle: text and HTML fallbacks, plus the widget view when ``live``."""
        with self._lock:
            data: dict[str, Any] = {
                "text/plain": self._plain(),
                "text/html": self._describe_html(),
            }
            closed = self._closed
        metadata: dict[str, Any] = {}
        if live and not closed:
            bundle = super()._repr_mimebundle_()
            if bundle is not None:
                view, metadata = bundle
                data[WIDGET_MIME] = view[WIDGET_MIME]
        return data, metadata

    def _refresh_saved(self, *, in_cell: bool | None = None) -> None:
        """Rewrite this widget's outputs if their fallback no longer says what it shows.

        ``in_cell``: whether a cell runs now (then every front end records the
        update); by default, as the registry knows it.
        """
        if self._display_id is None:
            return
        if in_cell is None:
            in_cell = _saved.get_saved_outputs().in_cell
        # One refresh at a time: a bundle read earlier must never be published after a later one.
        with self._publish_lock:
            data, metadata = self._bundle(live=True)
            signature = (data["text/plain"], data["text/html"])
            with self._lock:
                if self._closed:
                    return
                if signature == (self._saved_confirmed if in_cell else self._saved_sent):
                    return
                self._saved_sent = signature
                if in_cell:
                    self._saved_confirmed = signature
            _saved.publish(data, metadata, self._display_id, update=True)

    def _finish_saved(self, reason: str) -> None:
        """The kernel exits: say so in the fallback and drop the dead widget view."""
        with self._lock:
            self._note_final(reason)
        self._publish_static()

    def _publish_static(self) -> None:
        """Replace every output of this widget by its final transcript (its model is gone)."""
        if self._display_id is None:
            return
        _saved.get_saved_outputs().forget(self)
        with self._publish_lock:
            data, metadata = self._bundle(live=False)
            try:
                _saved.publish(data, metadata, self._display_id, update=True)
            except Exception as exc:  # the kernel may be half torn down at exit
                logger.debug("publishing the final output of %s failed: %r", type(self), exc)

    def _plain(self) -> str:
        text = self._describe()
        if len(text) > REPR_CHARS:
            text = "…" + text[-REPR_CHARS:]
        return text

    def __repr__(self) -> str:
        if "_lock" not in self.__dict__:  # the constructor failed early
            return object.__repr__(self)
        with self._lock:
            return self._plain()

    # --- the protocol --------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"seq": self._seq, "parts": {n: p.snapshot() for n, p in self._parts.items()}}

    def _take(self) -> dict[str, Any]:
        delta: dict[str, Any] = {}
        for name, part in self._parts.items():
            change = part.take()
            if change is not None:
                delta[name] = change
        return delta

    def _flush_pending(self) -> bool:
        """Send one delta with every pending change (called by the flusher)."""
        with self._lock:
            self._dirty = False
            if self._closed:
                return False
            self._before_flush()
            delta = self._take()
            if not delta:
                return False
            self._seq += 1
            self.send({"kind": "delta", "seq": self._seq, "parts": delta})
            return True

    def _checkpoint(self) -> None:
        """Fold pending changes into a new ``seq`` and publish the snapshot, if stale."""
        with self._lock:
            if self._closed:
                return
            self._before_flush()
            if self._take():
                self._seq += 1
            if self._published_seq != self._seq:
                self._published_seq = self._seq
                self.snapshot = self._state()

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, Mapping):
            return
        if content.get("kind") == "resync":
            self._checkpoint()
        else:
            self._on_command(content)
