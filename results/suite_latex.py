"""A suite's measured tables as LaTeX (``bench --latex`` writes suite.tex): booktabs tabulars, every outside
text escaped, the best cell of each column in bold (ties all bold), the random-weights warning in each
caption so a table of meaningless numbers cannot be pasted into a paper unnoticed."""

from __future__ import annotations

import re

from promptclimb.results.suite_tables import SuiteTable

# LaTeX's special characters, each as the text it stands for; backslash first (the others add some).
SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$",
}
SPECIAL = re.compile("|".join(re.escape(c) for c in SPECIALS))
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
QUOTED = re.compile(r'"([^"]*)"')


def latex_escape(text: object) -> str:
    """``text`` as LaTeX prints it literally: specials escaped, control characters dropped, "x" as ``x''."""
    plain = CONTROL.sub(" ", str(text))
    escaped = SPECIAL.sub(lambda m: SPECIALS[m.group()], plain)
    return QUOTED.sub(r"``\1''", escaped)


def tabular(table: SuiteTable) -> list[str]:
    lines = [r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule"]
    lines.append(" & ".join(latex_escape(c) for c in table.header) + r" \\")
    lines.append(r"\midrule")
    best = table.best()
    for m, row in enumerate(table.body()):
        cells = [latex_escape(cell) for cell in row]
        cells[1:] = [r"\textbf{" + c + "}" if best[m][k] else c for k, c in enumerate(cells[1:])]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return lines


def latex(tables: list[SuiteTable], banner: str | None) -> str:
    """Every measured table as a ``table`` float with its title as caption; needs \\usepackage{booktabs}."""
    lines = [
        r"% Written by promptclimb bench --latex; needs \usepackage{booktabs}; best of each column in bold."
    ]
    if banner:
        lines.append(f"% {CONTROL.sub(' ', banner)}")
    for table in tables:
        caption = latex_escape(table.title)
        if banner:
            caption = r"\textbf{" + latex_escape(banner) + "} " + caption
        lines += ["", r"\begin{table}[t]", r"\centering", r"\caption{" + caption + "}", *tabular(table)]
        lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
