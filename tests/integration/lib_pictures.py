"""Draws a Grafana dashboard as a PNG with gnuplot (Debian's gnuplot-nox), from the answers
its panels' queries got: the dashboard's own layout (gridPos on 24 columns, 30 px rows),
titles, units and thresholds; time series as lines (stacked ones too), stats as numbers,
the gauge as an arc, bar gauges as bars, the heatmap as cells. A picture of what Grafana
shows for the same data, close enough to see what a dashboard holds before installing it.
A library, not a test (run.sh skips files named lib*).

    render(board, answers, png_path, subtitle)
answers: {panel id: [(target, result)]} where result is Prometheus' answer to the target
(a matrix for range queries, a vector for instant ones), or None when it was not asked.
"""
import math
import os
import re
import subprocess
import tempfile
import time

WIDTH = 1600
ROW_PX = 30
HEADER_PX = 56
COLORS = ["#299c46", "#e0b400", "#1f78c1", "#eb7b18", "#d44a3a", "#8f3bb8", "#0a437c",
          "#6d1f62", "#508642", "#cca300", "#447ebc", "#c15c17", "#890f02", "#58140c"]
THRESHOLD_COLORS = {"green": "#37872d", "yellow": "#e0b400", "orange": "#fa6400",
                    "red": "#c4162a"}


# ---- values and units ----

def scale(unit):
    """(factor, gnuplot y format) for a Grafana unit."""
    return {"percentunit": (100.0, "%g%%"), "s": (1.0, "%gs"), "bytes": (1.0, "%.1s %cB"),
            "Bps": (1.0, "%.1s %cB/s"), "reqps": (1.0, "%g/s"), "cps": (1.0, "%g/s"),
            "ops": (1.0, "%g/s")}.get(unit, (1.0, "%g"))


def small(fmt):
    """The format for an axis whose values stay under 1: no SI prefix (gnuplot's would be
    milli)."""
    return fmt.replace("%.1s %c", "%g ")


def human(v, unit):
    """A value as Grafana's stat would print it."""
    if v is None or math.isnan(v):
        return "No data"
    if unit == "percentunit":
        return "%.1f%%" % (100 * v)
    if unit == "s":
        return "%.0f ms" % (1000 * v) if v < 1 else ("%.2f s" % v if v < 60 else
                                                     "%.1f h" % (v / 3600) if v >= 3600 else
                                                     "%.1f min" % (v / 60))
    if unit in ("bytes", "Bps"):
        n = v
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(n) < 1024 or suffix == "TiB":
                return "%.3g %s%s" % (n, suffix, "/s" if unit == "Bps" else "")
            n /= 1024
    if unit in ("reqps", "cps", "ops"):
        return "%.3g/s" % v
    if abs(v) >= 1e6:
        return "%.3g M" % (v / 1e6)
    if abs(v) >= 1e3:
        return "%.3g k" % (v / 1e3)
    return "%.3g" % v


def step_color(steps, v):
    color = steps[0]["color"]
    for s in steps[1:]:
        if v is not None and not math.isnan(v) and v >= s["value"]:
            color = s["color"]
    return THRESHOLD_COLORS.get(color, color)


def legend(fmt, metric):
    if not fmt or fmt == "__auto":
        return ",".join("%s=%s" % kv for kv in sorted(metric.items()) if kv[0] != "__name__") \
            or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt)


def quote(s):
    """A gnuplot string (the terminal is noenhanced: no markup to escape)."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def last_value(result):
    """The last finite value of the first series of an answer."""
    for s in result or []:
        if "values" in s:
            vals = [float(v) for _, v in s["values"] if not math.isnan(float(v))]
            if vals:
                return vals[-1]
        elif "value" in s and not math.isnan(float(s["value"][1])):
            return float(s["value"][1])
    return None


# ---- the picture ----

class Picture:
    def __init__(self, board, answers, subtitle):
        self.board = board
        self.answers = answers
        self.subtitle = subtitle
        self.dir = tempfile.mkdtemp(prefix="gleaner-picture-")
        bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
        self.height = HEADER_PX + bottom * ROW_PX + 8
        self.lines = []
        self.files = 0

    def box(self, g, pad=4):
        """A panel's rectangle in screen fractions: x0, x1, y0 (bottom), y1 (top)."""
        col = WIDTH / 24.0
        x0 = (g["x"] * col + pad) / WIDTH
        x1 = ((g["x"] + g["w"]) * col - pad) / WIDTH
        top = HEADER_PX + g["y"] * ROW_PX + pad
        bottom = HEADER_PX + (g["y"] + g["h"]) * ROW_PX - pad
        return x0, x1, 1 - bottom / self.height, 1 - top / self.height

    def data_file(self, rows):
        self.files += 1
        path = os.path.join(self.dir, "d%d.dat" % self.files)
        with open(path, "w") as f:
            for r in rows:
                f.write(" ".join(str(c) for c in r) + "\n")
        return path

    def emit(self, *lines):
        self.lines.extend(lines)

    def frame(self, p, plot_area=True):
        """Starts a panel: its frame, its title, margins for what it draws."""
        x0, x1, y0, y1 = self.box(p["gridPos"])
        title_h = 22.0 / self.height
        self.emit("reset", "unset key", "set border lw 0.5 lc rgb '#c7d0d9'",
                  "set tics textcolor rgb '#464c54'",
                  "set object 1 rectangle from screen %f,%f to screen %f,%f fc rgb '#ffffff' "
                  "fs solid 1.0 border lc rgb '#c7d0d9' lw 1 behind" % (x0, y0, x1, y1),
                  "set label 1 %s at screen %f,%f left front font ',10' tc rgb '#202226'"
                  % (quote(p["title"]), x0 + 6.0 / WIDTH, y1 - 14.0 / self.height))
        left = 56.0 if plot_area else 4.0
        self.emit("set lmargin at screen %f" % (x0 + left / WIDTH),
                  "set rmargin at screen %f" % (x1 - 10.0 / WIDTH),
                  "set tmargin at screen %f" % (y1 - title_h - 6.0 / self.height),
                  "set bmargin at screen %f" % (y0 + (34.0 if plot_area else 4.0) / self.height))
        return x0, x1, y0, y1

    def no_data(self, p):
        x0, x1, y0, y1 = self.frame(p, plot_area=False)
        self.emit("unset border", "unset tics", "set xrange [0:1]", "set yrange [0:1]",
                  "set label 2 'No data' at graph 0.5,0.5 center font ',12' tc rgb '#8e8e8e'",
                  "plot NaN notitle")

    # ---- panel kinds ----

    def row(self, p):
        x0, x1, y0, y1 = self.box(p["gridPos"], pad=2)
        self.emit("reset", "unset border", "unset tics", "unset key",
                  "set lmargin at screen %f" % x0, "set rmargin at screen %f" % x1,
                  "set tmargin at screen %f" % y1, "set bmargin at screen %f" % y0,
                  "set xrange [0:1]", "set yrange [0:1]",
                  "set label 1 %s at graph 0,0.5 left font ',12' tc rgb '#202226'"
                  % quote(p["title"]), "plot NaN notitle")

    def timeseries(self, p, start, end):
        defaults = p["fieldConfig"]["defaults"]
        factor, fmt = scale(defaults.get("unit"))
        plots = []
        i = 0
        lowest, highest = 0.0, 0.0
        for t, result in self.answers.get(p["id"], []):
            for s in result or []:
                rows = [(float(ts), float(v) * factor) for ts, v in s.get("values", [])
                        if not math.isnan(float(v)) and start <= float(ts) <= end]
                if not rows:
                    continue
                lowest = min([lowest] + [v for _, v in rows])
                highest = max([highest] + [v for _, v in rows])
                path = self.data_file(rows)
                plots.append("%s using 1:2 with lines lw 1.6 lc rgb '%s' title %s"
                             % (quote_path(path), COLORS[i % len(COLORS)],
                                quote(legend(t.get("legendFormat"), s["metric"]))))
                i += 1
        if not plots:
            return self.no_data(p)
        self.frame(p)
        self.emit("set xdata time", "set timefmt '%s'", "set format x '%s'" % clock(start, end),
                  "set xrange ['%d':'%d']" % (start, end), "set xtics font ',8' nomirror",
                  "set ytics font ',8' nomirror", "set format y '%s'" % fmt,
                  "set grid ytics lc rgb '#e4e7eb'", "set key top left horizontal font ',7' "
                  "samplen 1.5 spacing 0.9 maxrows 3 opaque")
        if "min" in defaults:
            self.emit("set yrange [%g:%s]" % (defaults["min"] * factor,
                                              "%g" % (defaults["max"] * factor) if "max" in
                                              defaults else "*"))
        elif lowest >= 0:
            self.emit("set yrange [0:*]")
        if highest < 1:
            self.emit("set format y '%s'" % small(fmt))
        if defaults["custom"]["thresholdsStyle"]["mode"] == "line":
            for s in defaults["thresholds"]["steps"][1:]:
                plots.append("%g with lines dt 2 lw 1.2 lc rgb '%s' notitle"
                             % (s["value"] * factor, THRESHOLD_COLORS.get(s["color"],
                                                                          s["color"])))
        self.emit("plot " + ", ".join(plots))

    def stat(self, p):
        unit = p["fieldConfig"]["defaults"].get("unit")
        steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        values = []
        for t, result in self.answers.get(p["id"], []):
            v = last_value(result)
            values.append((legend(t.get("legendFormat"), {}), v))
        x0, x1, y0, y1 = self.frame(p, plot_area=False)
        self.emit("unset border", "unset tics", "set xrange [0:1]", "set yrange [0:1]")
        n = max(1, len(values))
        for k, (label, v) in enumerate(values):
            cx = (k + 0.5) / n
            self.emit("set label %d %s at graph %f,0.5 center font ',20' tc rgb '%s'"
                      % (10 + k, quote(human(v, unit)), cx, step_color(steps, v)))
            if n > 1:
                self.emit("set label %d %s at graph %f,0.15 center font ',9' tc rgb '#464c54'"
                          % (30 + k, quote(label), cx))
        self.emit("plot NaN notitle")

    def gauge(self, p):
        d = p["fieldConfig"]["defaults"]
        lo, hi = d["min"], d["max"]
        steps = d["thresholds"]["steps"]
        v = last_value(self.answers.get(p["id"], [(None, None)])[0][1])
        self.frame(p, plot_area=False)
        self.emit("unset border", "unset tics", "set xrange [-1.3:1.3]", "set yrange [-0.35:1.2]")

        def angle(x):
            f = (min(max(x, lo), hi) - lo) / (hi - lo)
            return math.pi * (1 - f)

        def arc(a, b, r, width, color):
            n = max(2, int(abs(b - a) * 40))
            path = self.data_file([(r * math.cos(a + (b - a) * k / n),
                                    r * math.sin(a + (b - a) * k / n)) for k in range(n + 1)])
            return "%s using 1:2 with lines lw %d lc rgb '%s' notitle" % (quote_path(path),
                                                                         width, color)
        plots = [arc(0, math.pi, 1.0, 14, "#e4e7eb")]
        bounds = [lo] + [s["value"] for s in steps[1:]] + [hi]
        for s, a, b in zip(steps, bounds, bounds[1:]):
            if b > lo and a < hi:
                plots.append(arc(angle(b), angle(a), 1.13, 3,
                                 THRESHOLD_COLORS.get(s["color"], s["color"])))
        if v is not None and v > lo:
            plots.append(arc(angle(v), math.pi, 1.0, 14, step_color(steps, v)))
        self.emit("set label 2 %s at 0,0.25 center font ',20' tc rgb '%s'"
                  % (quote(human(v, d.get("unit"))), step_color(steps, v)),
                  "plot " + ", ".join(plots))

    def bargauge(self, p):
        d = p["fieldConfig"]["defaults"]
        factor, fmt = scale(d.get("unit"))
        steps = d["thresholds"]["steps"]
        bars = []
        for t, result in self.answers.get(p["id"], []):
            for s in result or []:
                v = float(s["value"][1]) if "value" in s else last_value([s])
                if v is not None and not math.isnan(v):
                    bars.append((legend(t.get("legendFormat"), s["metric"]), v))
        if not bars:
            return self.no_data(p)
        bars = bars[:12]
        self.frame(p)
        rows = []
        for k, (label, v) in enumerate(reversed(bars)):
            color = int(step_color(steps, v)[1:], 16)
            rows.append((k, v * factor, color, '"%s"' % label.replace('"', "'"),
                         '"%s"' % human(v, d.get("unit"))))
        path = self.data_file(rows)
        top = max(v for _, v in bars) * factor
        hi = d["max"] * factor if "max" in d else top * 1.25 or 1
        self.emit("set xrange [0:%g]" % hi, "set yrange [-0.6:%f]" % (len(bars) - 0.4),
                  "set format x '%s'" % fmt, "set xtics font ',8' nomirror",
                  "set ytics font ',8' nomirror", "set style fill solid 0.85 noborder",
                  "set lmargin at screen %f" % (self.box(p["gridPos"])[0] + 230.0 / WIDTH))
        self.emit("plot %s using (0):1:(0):2:($1-0.32):($1+0.32):3:ytic(4) with boxxyerror "
                  "lc rgb variable notitle, '' using 2:1:5 with labels left offset 0.5,0 "
                  "font ',8' notitle" % quote_path(path))

    def heatmap(self, p, start, end):
        cells = []
        les = []
        for t, result in self.answers.get(p["id"], []):
            series = sorted(result or [], key=lambda s: float(s["metric"].get("le", "inf")
                                                             .replace("+Inf", "inf")))
            les = [s["metric"].get("le", "?") for s in series]
            prev = None
            for k, s in enumerate(series):
                counts = {float(ts): float(v) for ts, v in s.get("values", [])}
                below = prev or {}
                for ts, c in counts.items():
                    n = c - below.get(ts, 0.0)
                    cells.append((ts, k, max(n, 0.0)))
                prev = counts
        if not cells or max(c for _, _, c in cells) <= 0:
            return self.no_data(p)
        self.frame(p)
        stamps = sorted({ts for ts, _, _ in cells})
        step = min([b - a for a, b in zip(stamps, stamps[1:])] or [1.0])
        path = self.data_file(cells)
        self.emit("set xdata time", "set timefmt '%s'", "set format x '%s'" % clock(start, end),
                  "set xrange ['%d':'%d']" % (start, end), "set xtics font ',8' nomirror",
                  "set yrange [-0.5:%f]" % (len(les) - 0.5), "set ytics font ',7' nomirror (%s)"
                  % ", ".join('"%s" %d' % (le, k) for k, le in enumerate(les)),
                  "set palette defined (0 '#ffffff', 1 '#fdd49e', 4 '#fc8d59', 10 '#b30000')",
                  "set cbrange [0:*]", "unset colorbox", "set style fill solid 1.0 noborder")
        self.emit("plot %s using 1:2:(%f):(0.5):3 with boxxyerror fc palette notitle"
                  % (quote_path(path), step / 2))

    # ---- the whole ----

    def script(self, png, start, end):
        self.emit("set terminal pngcairo noenhanced size %d,%d font 'DejaVu Sans,9' "
                  "background '#f4f5f5'" % (WIDTH, self.height),
                  "set output %s" % quote_path(png), "set multiplot")
        self.emit("reset", "unset border", "unset tics", "unset key",
                  "set lmargin at screen 0", "set rmargin at screen 1",
                  "set tmargin at screen 1", "set bmargin at screen %f"
                  % (1 - HEADER_PX / float(self.height)), "set xrange [0:1]", "set yrange [0:1]",
                  "set label 1 %s at graph 0.006,0.62 left font ',15' tc rgb '#202226'"
                  % quote(self.board["title"]),
                  "set label 2 %s at graph 0.006,0.22 left font ',9' tc rgb '#6e7175'"
                  % quote(self.subtitle), "plot NaN notitle")
        for p in self.board["panels"]:
            kind = p["type"]
            if kind == "row":
                self.row(p)
            elif kind == "timeseries":
                self.timeseries(p, start, end)
            elif kind == "stat":
                self.stat(p)
            elif kind == "gauge":
                self.gauge(p)
            elif kind == "bargauge":
                self.bargauge(p)
            elif kind == "heatmap":
                self.heatmap(p, start, end)
        self.emit("unset multiplot", "set output")
        return "\n".join(self.lines) + "\n"


def clock(start, end):
    """The time axis' format: seconds shown for a short span."""
    return "%H:%M:%S" if end - start < 900 else "%H:%M"


def quote_path(path):
    return "'%s'" % path.replace("'", "")


def render(board, answers, png, subtitle, start=None, end=None):
    """Writes png; returns the gnuplot script's path (kept beside the data, for reading)."""
    end = end or time.time()
    start = start or end - 600
    pic = Picture(board, answers, subtitle)
    script = os.path.join(pic.dir, "dashboard.gp")
    with open(script, "w") as f:
        f.write(pic.script(png, start, end))
    p = subprocess.run(["gnuplot", script], capture_output=True, text=True, timeout=120)
    if p.returncode != 0 or not os.path.isfile(png):
        raise RuntimeError("gnuplot failed on %s:\n%s" % (script, p.stderr[-3000:]))
    return script
