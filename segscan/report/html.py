"""The batch job's reports: CSV rows and one self-contained HTML page (pictures inlined,
no external resources), from the job's result rows (query JSON plus explanation PNGs)."""
from __future__ import annotations

import html

from .rows import fmt_time, write_atomic, write_segment_csv

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px} h2{font-size:16px;margin:0 0 6px}
.upload{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px 16px;margin:12px 0}
.verdict{font-weight:600;padding:2px 8px;border-radius:4px;margin-left:8px}
.copy{background:#c62828;color:#fff} .clean{background:#2e7d32;color:#fff} .failed{background:#777;color:#fff}
table{border-collapse:collapse;margin:6px 0} td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;
font-size:13px} .pics{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap;margin:6px 0 14px}
.pics figure{margin:0} figcaption{font-size:12px;color:#666} .summary td{font-size:14px}
"""


def _img(b64: str | None, alt: str) -> str:
    return f'<img src="data:image/png;base64,{b64}" alt="{html.escape(alt)}">' if b64 else ""


def upload_section(row: dict) -> str:
    name = html.escape(row["upload"])
    if "error" in row:
        return (f'<div class="upload"><h2>{name}<span class="verdict failed">unreadable</span></h2>'
                f'<p>{html.escape(row["error"])}</p></div>')
    matches = row.get("results", [])
    copies = [m for m in matches if m["copy"]]
    verdict = ('<span class="verdict copy">copy</span>' if copies else '<span class="verdict clean">no copy</span>')
    parts = [f'<div class="upload"><h2>{name}{verdict}</h2>',
             f'<p>{row["duration"]:.1f} s; {len(matches)} reference(s) matched, {len(copies)} declared copies</p>']
    if matches:
        parts.append("<table><tr><th>#</th><th>reference</th><th>score</th><th>copy</th><th>segments "
                     "(upload &harr; reference)</th></tr>")
        for i, m in enumerate(matches, 1):
            segs = "<br>".join(f"{fmt_time(s['query_start'])}&ndash;{fmt_time(s['query_end'])} &harr; "
                               f"{fmt_time(s['ref_start'])}&ndash;{fmt_time(s['ref_end'])} ({s['score']:.2f}"
                               f"{', copy' if s.get('copy') else ''}{', repeated' if s.get('repeat') else ''})"
                               for s in m["segments"])
            parts.append(f"<tr><td>{i}</td><td>{html.escape(m['path'])}</td><td>{m['score']:.3f}</td>"
                         f"<td>{'yes' if m['copy'] else '&ndash;'}</td><td>{segs}</td></tr>")
        parts.append("</table>")
    for m in copies:
        pics = row.get("pictures", {}).get(m["video_id"], {})
        if pics:
            parts.append('<div class="pics">'
                         f'<figure>{_img(pics.get("map"), "similarity map")}<figcaption>similarity map '
                         f'(upload keyframes down, reference across; boxes: segments)</figcaption></figure>'
                         f'<figure>{_img(pics.get("frames"), "segment frames")}<figcaption>per segment: upload '
                         f'start, reference start, upload end, reference end</figcaption></figure></div>')
    parts.append("</div>")
    return "".join(parts)


def render(rows: list[dict], title: str) -> str:
    n_copy = sum(any(m["copy"] for m in r.get("results", [])) for r in rows)
    n_fail = sum("error" in r for r in rows)
    order = sorted(rows, key=lambda r: (0 if any(m["copy"] for m in r.get("results", [])) else
                                        2 if "error" not in r else 1, r["upload"]))
    head = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<table class="summary"><tr><td>uploads</td><td>{len(rows)}</td></tr>'
            f"<tr><td>with a declared copy</td><td>{n_copy}</td></tr>"
            f"<tr><td>unreadable</td><td>{n_fail}</td></tr></table>")
    return head + "".join(upload_section(r) for r in order) + "</body></html>\n"


def write_html(path, rows: list[dict], title: str = "segscan report") -> None:
    write_atomic(path, lambda f: f.write(render(rows, title)))


def write_csv(path, rows: list[dict]) -> None:
    ok = [{**r, "query": r["upload"]} for r in rows if "error" not in r]
    write_segment_csv(path, ok, [(r["upload"], r["error"]) for r in rows if "error" in r])
