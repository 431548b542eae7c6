"""The picture of a dub a person can check at a glance: ``NAME.report.png`` + ``NAME.report.json``.

The sheet holds, from the top:

* a header: the output, whether it is a preview, the lip-sync score (or why there is none);
* a contact sheet of face crops, source frame above dub frame, at the moments where the dub's
  mouth is most open and most closed (picked from the opening measured on the OUTPUT video);
* a plot of the dub's mouth opening over time (and the opening of the source frame shown at
  each moment) under the new audio's waveform, the picked moments marked.

The opening is the inner-lip gap over the eye distance
(:func:`minerf.prepare.expression_space.mouth_opening`) of the face-mesh points that
:func:`minerf_dub.lmd.video_landmarks` tracks on the output frames; a frame where the tracker
finds no face has NaN (``null`` in the JSON, a gap in the plot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from minerf_base.atomic import atomic_path, atomic_write_json
from minerf_base.timebase import FPS

OPENING_MEASURE = "inner-lip gap (face-mesh points 13-14) over the eye distance (points 33-263), tracked on the output frames"
MOMENTS_PER_KIND = 3
FACE_MARGIN = 1.25
"""Side of a face crop over the larger side of the face box."""
TEXT_SCALE = 0.45
LINE_HEIGHT = 18
INK = (20, 20, 20)
PAPER = 255
KIND_COLOURS = {"open": "#c0392b", "closed": "#2166ac", "no face": "#777777"}


@dataclass(frozen=True)
class Moment:
    """One column of the contact sheet."""

    kind: str
    """``open``, ``closed``, or ``no face`` (evenly spaced frames when the tracker found none)."""
    frame: int
    """Output frame index."""
    opening: float
    """The dub's opening there (NaN: no face found)."""

    @property
    def label(self) -> str:
        return {"open": "O", "closed": "C", "no face": "N"}[self.kind]

    def to_dict(self, source_frame: int) -> dict[str, Any]:
        return {"kind": self.kind, "frame": self.frame, "time": round(self.frame / FPS, 3), "opening": _finite_or_none(self.opening), "source_frame": source_frame}


@dataclass(frozen=True)
class SheetLayout:
    """Pixel geometry of the report sheet: ``columns`` moments, two rows of ``panel`` px face
    crops (row 0: source, row 1: dub), a header of ``header_lines`` text lines, the plot below."""

    columns: int
    header_lines: int
    panel: int = 160
    gap: int = 6
    margin: int = 10
    label_width: int = 64
    caption_height: int = 2 * LINE_HEIGHT
    plot_height: int = 340

    @property
    def width(self) -> int:
        """As wide as :data:`MOMENTS_PER_KIND` x 2 columns at least (the plot's width)."""
        columns = max(self.columns, 2 * MOMENTS_PER_KIND)
        return 2 * self.margin + self.label_width + columns * self.panel + (columns - 1) * self.gap

    @property
    def panels_top(self) -> int:
        return self.margin + self.header_lines * LINE_HEIGHT + self.caption_height

    @property
    def plot_box(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of the plot."""
        top = self.panels_top + 2 * self.panel + self.gap + self.margin
        return self.margin, top, self.width - self.margin, top + self.plot_height

    @property
    def height(self) -> int:
        return self.plot_box[3] + self.margin

    def panel_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of the face crop in ``row`` (0 source, 1 dub) and ``column``."""
        x0 = self.margin + self.label_width + column * (self.panel + self.gap)
        y0 = self.panels_top + row * (self.panel + self.gap)
        return x0, y0, x0 + self.panel, y0 + self.panel


@dataclass
class ReportInput:
    """What the report of one dub reads besides the output video itself."""

    output: Path
    """The dubbed video (the report measures its frames)."""
    source_frames: Any
    """Full-resolution source frames, indexable by clip frame (RGB uint8)."""
    timeline: np.ndarray
    """(T,) clip frame shown at each output frame."""
    face_boxes: np.ndarray
    """(T, 4) x0, y0, x1, y1 face box of each output frame, in frame pixels."""
    source_opening: np.ndarray | None
    """(T,) opening of the source frame shown at each output frame, measured as the dub's is."""
    wave: np.ndarray | None
    """The new audio of the T frames (mono), or None (no audio track)."""
    sample_rate: int
    score: dict[str, Any] | None
    """The lip-sync score of the output (``minerf_dub.pipeline.score_output``), or None."""
    not_scored: str | None
    """Why there is no score (None when there is one)."""
    preview: str | None = None
    """A line saying the output is a preview, or None."""


def report_paths(output: Path) -> tuple[Path, Path]:
    """``NAME.report.png`` and ``NAME.report.json`` beside ``output`` (``NAME.mp4``)."""
    output = Path(output)
    return output.with_name(output.stem + ".report.png"), output.with_name(output.stem + ".report.json")


def measure_opening(video: Path, max_frames: int | None = None) -> np.ndarray:
    """(T,) mouth opening of each 25 fps frame of ``video`` (the first ``max_frames``); NaN
    where the tracker finds no face."""
    from minerf.prepare.expression_space import mouth_opening
    from minerf_base.rows import collect_rows
    from minerf_dub.lmd import iter_video_landmarks

    return collect_rows((mouth_opening(points) for points in iter_video_landmarks(video, max_frames)), (), np.float64)


def pick_moments(opening: np.ndarray, count: int = MOMENTS_PER_KIND) -> list[Moment]:
    """The ``count`` most open, then the ``count`` most closed frames of ``opening`` (T,), at
    least ``gap`` frames apart (T / (4 count), at most one second) so they are not neighbours.
    Without any finite value: ``count`` evenly spaced frames of kind ``no face``."""
    opening = np.asarray(opening, np.float64)
    found = np.flatnonzero(np.isfinite(opening))
    if len(found) == 0:
        frames = np.unique(np.linspace(0, len(opening) - 1, count).round().astype(int)) if len(opening) else []
        return [Moment("no face", int(k), float("nan")) for k in frames]
    gap = max(1, min(FPS, len(opening) // (4 * count)))
    taken: list[int] = []
    moments = []
    for kind, order in (("open", found[np.argsort(-opening[found], kind="stable")]), ("closed", found[np.argsort(opening[found], kind="stable")])):
        picked = 0
        for k in order:
            if picked == count:
                break
            if all(abs(int(k) - t) >= gap for t in taken):
                taken.append(int(k))
                moments.append(Moment(kind, int(k), float(opening[k])))
                picked += 1
    return moments


def face_square(box: np.ndarray, margin: float = FACE_MARGIN) -> tuple[int, int, int]:
    """(x0, y0, side) of the square around face ``box`` (x0, y0, x1, y1), ``margin`` times its larger side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(2, int(round(max(x1 - x0, y1 - y0) * margin)))
    return int(round((x0 + x1 - side) / 2)), int(round((y0 + y1 - side) / 2)), side


def face_crop(frame: np.ndarray, square: tuple[int, int, int], size: int) -> np.ndarray:
    """The ``square`` (x0, y0, side) of RGB ``frame`` (black outside it), resized to (size, size, 3)."""
    import cv2

    x0, y0, side = square
    h, w = frame.shape[:2]
    out = np.zeros((side, side, 3), np.uint8)
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if fx1 > fx0 and fy1 > fy0:
        out[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = frame[fy0:fy1, fx0:fx1]
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)


def read_frames(video: Path, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The 25 fps frames ``indices`` of ``video`` (one pass, only those kept)."""
    from minerf_base.video_in import iter_frames

    wanted, out = set(int(k) for k in indices), {}
    for k, frame in enumerate(iter_frames(video)):
        if k in wanted:
            out[k] = frame
            if len(out) == len(wanted):
                break
    return out


def score_line(score: dict[str, Any] | None, not_scored: str | None) -> str:
    """The score as one line of text, or why there is none."""
    if score is None:
        return f"lip sync: not scored ({not_scored or 'no reason given'})"
    faces = "" if score.get("faces", "detected") == "detected" else f"  (faces: {score['faces']})"
    return f"lip sync: LSE-D {score['lse_d']:.3f}  LSE-C {score['lse_c']:.3f}  offset {score['offset']}{faces}  (SyncNet weights: {score.get('weights_note', score.get('weights'))})"


def header_lines(report: ReportInput, opening: np.ndarray, moments: list[Moment], width: int) -> list[str]:
    """The sheet's header text, wrapped to ``width`` px."""
    found = int(np.isfinite(opening).sum())
    # the dub is read at the analysis rate, whatever its own (a 30 fps dub: 250 of its 300 frames in 10 s)
    lines = [f"minerf-dub report: {report.output.name}  ({len(opening) / FPS:.2f} s, measured on {len(opening)} frames read at {FPS} fps)"]
    if report.preview:
        lines.append(report.preview)
    lines.append(score_line(report.score, report.not_scored))
    kinds = sorted({m.kind for m in moments}, key=list(KIND_COLOURS).index)
    lines.append(f"mouth opening tracked on the dub's frames: face found in {found} of {len(opening)}; columns: " + ", ".join(f"{kind} ({sum(m.kind == kind for m in moments)})" for kind in kinds))
    return [part for line in lines for part in wrap_text(line, width)]


def wrap_text(text: str, width: int) -> list[str]:
    """``text`` split at spaces into lines no wider than ``width`` px (at the sheet's font)."""
    lines, line = [], ""
    for word in text.split(" "):
        trial = f"{line} {word}" if line else word
        if line and _text_width(trial) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line]


def _text_width(text: str) -> int:
    import cv2

    return cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, TEXT_SCALE, 1)[0][0]


def _put(sheet: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int] = INK) -> None:
    """Write ``text`` with its baseline at ``y``."""
    import cv2

    cv2.putText(sheet, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, TEXT_SCALE, colour, 1, cv2.LINE_AA)


def draw_sheet(layout: SheetLayout, lines: list[str], moments: list[Moment], crops: list[tuple[np.ndarray, np.ndarray]], plot: np.ndarray) -> np.ndarray:
    """The report image (H, W, 3) uint8: ``lines`` of header, per moment a (source, dub) pair
    of ``layout.panel`` px crops with its caption, and ``plot`` in ``layout.plot_box``."""
    sheet = np.full((layout.height, layout.width, 3), PAPER, np.uint8)
    for i, line in enumerate(lines):
        _put(sheet, line, layout.margin, layout.margin + (i + 1) * LINE_HEIGHT - 5)
    for row, name in enumerate(("source", "dub")):
        _, y0, _, y1 = layout.panel_box(row, 0)
        _put(sheet, name, layout.margin, (y0 + y1) // 2 + 5)
    for col, (name, moment, pair) in enumerate(zip(moment_names(moments), moments, crops)):
        x0, y0, _, _ = layout.panel_box(0, col)
        colour = tuple(int(KIND_COLOURS[moment.kind][i : i + 2], 16) for i in (1, 3, 5))
        opening = "no face" if math.isnan(moment.opening) else f"opening {moment.opening:.3f}"
        _put(sheet, f"{name} ({moment.kind})  t {moment.frame / FPS:.2f} s", x0, y0 - LINE_HEIGHT - 5, colour)
        _put(sheet, f"frame {moment.frame}, {opening}", x0, y0 - 5, colour)
        for row, crop in enumerate(pair):
            bx0, by0, bx1, by1 = layout.panel_box(row, col)
            sheet[by0:by1, bx0:bx1] = crop
    px0, py0, px1, py1 = layout.plot_box
    sheet[py0:py1, px0:px1] = plot
    return sheet


def moment_names(moments: list[Moment]) -> list[str]:
    """``O1 O2 O3 C1 C2 C3`` (or ``N1 ...``): the name of each column, as on the sheet and the plot."""
    seen: dict[str, int] = {}
    names = []
    for m in moments:
        seen[m.kind] = seen.get(m.kind, 0) + 1
        names.append(f"{m.label}{seen[m.kind]}")
    return names


def waveform_envelope(wave: np.ndarray, sample_rate: int, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time (B,) s, min (B,), max (B,)) of ``wave`` over ``bins`` equal stretches: a waveform
    plot of any length in bounded size."""
    wave = np.asarray(wave, np.float32)
    bins = max(1, min(bins, len(wave)))
    edges = np.linspace(0, len(wave), bins + 1).astype(int)
    low = np.minimum.reduceat(wave, edges[:-1])
    high = np.maximum.reduceat(wave, edges[:-1])
    return (edges[:-1] + edges[1:]) / 2 / sample_rate, low, high


def nan_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges of the runs of NaN in ``values`` (T,)."""
    missing = np.concatenate([[False], ~np.isfinite(np.asarray(values, np.float64)), [False]])
    edges = np.flatnonzero(np.diff(missing.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def opening_plot(report: ReportInput, opening: np.ndarray, moments: list[Moment], size: tuple[int, int]) -> np.ndarray:
    """The plot (H, W, 3) uint8 of ``size`` (H, W): the new audio's waveform on top, the dub's
    opening (and the source's) below on the same time axis, the moments marked."""
    import cv2
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = size
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax_wave, ax_open = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    seconds = len(opening) / FPS
    if report.wave is not None and len(report.wave):
        t, low, high = waveform_envelope(report.wave, report.sample_rate, 4 * width)
        ax_wave.fill_between(t, low, high, color="#555555", linewidth=0)
    else:
        ax_wave.text(0.5, 0.5, "no audio track", transform=ax_wave.transAxes, ha="center", va="center")
    ax_wave.set_ylabel("new audio")
    ax_wave.set_yticks([])
    t = np.arange(len(opening)) / FPS
    missing = int((~np.isfinite(opening)).sum())
    ax_open.plot(t, opening, color="#1b7837", marker=".", markersize=3, linewidth=1.2, label="dub", zorder=3)
    for k, (start, stop) in enumerate(nan_runs(opening)):
        end = seconds if stop == len(opening) else (stop - 0.5) / FPS
        ax_open.axvspan((start - 0.5) / FPS, end, color="#dddddd", linewidth=0, label=None if k else f"no face found in the dub ({missing} frames)")
    if report.source_opening is not None:
        ax_open.plot(t, report.source_opening, color="#999999", linestyle="--", linewidth=1, label="source frame shown (same measure)")
    for name, m in zip(moment_names(moments), moments):
        for ax in (ax_wave, ax_open):
            ax.axvline(m.frame / FPS, color=KIND_COLOURS[m.kind], linewidth=0.8, alpha=0.7)
        ax_open.annotate(name, (m.frame / FPS, 1.0), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7, color=KIND_COLOURS[m.kind])
    ax_open.set_xlim(0, max(seconds, 1 / FPS))
    ax_open.set_xlabel("time (s)")
    ax_open.set_ylabel("mouth opening\n(lip gap / eye distance)", fontsize=8)
    ax_open.legend(loc="upper right", fontsize=7)
    fig.tight_layout(pad=0.4)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3]
    if image.shape[:2] != (height, width):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def report_data(report: ReportInput, opening: np.ndarray, moments: list[Moment], layout: SheetLayout, sheet: Path) -> dict[str, Any]:
    """The JSON beside the sheet: the opening series, the picked frames (with the face square
    of their crops), the score and the sheet's :class:`SheetLayout`."""
    source = None if report.source_opening is None else [_finite_or_none(v) for v in report.source_opening]
    return {
        "video": str(report.output), "sheet": sheet.name, "fps": FPS, "frames": len(opening), "preview": report.preview,
        "opening_measure": OPENING_MEASURE, "opening": [_finite_or_none(v) for v in opening], "missing": int((~np.isfinite(opening)).sum()),
        "source_opening": source, "moments": [dict(m.to_dict(int(report.timeline[m.frame])), name=n, face_square=list(face_square(report.face_boxes[m.frame]))) for n, m in zip(moment_names(moments), moments)],
        "score": report.score, "not_scored": report.not_scored, "layout": {"columns": layout.columns, "header_lines": layout.header_lines},
    }


def write_report(report: ReportInput) -> tuple[Path, Path]:
    """Measure the output, pick the moments, write ``NAME.report.png`` and ``NAME.report.json``
    (atomically); returns their paths."""
    import cv2

    png, data = report_paths(report.output)
    opening = measure_opening(report.output)
    moments = pick_moments(opening)
    frames = read_frames(report.output, [m.frame for m in moments])
    bare = SheetLayout(len(moments), 0)
    lines = header_lines(report, opening, moments, bare.width - 2 * bare.margin)
    layout = SheetLayout(len(moments), len(lines))
    crops = []
    for m in moments:
        square = face_square(report.face_boxes[m.frame])
        crops.append((face_crop(report.source_frames[int(report.timeline[m.frame])], square, layout.panel), face_crop(frames[m.frame], square, layout.panel)))
    x0, y0, x1, y1 = layout.plot_box
    sheet = draw_sheet(layout, lines, moments, crops, opening_plot(report, opening, moments, (y1 - y0, x1 - x0)))
    with atomic_path(png) as tmp:  # tmp ends in .png: cv2 picks the format by suffix
        if not cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {png}")
    atomic_write_json(data, report_data(report, opening, moments, layout, png))
    return png, data


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
