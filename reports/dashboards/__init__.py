"""The data dialogue: department, intervention, school and district dashboards.

Each dashboard is a selector that returns Figures (reports.dashboards.figures): a title, a table
(columns and rows) and optionally bars drawn as SVG. The page shows every figure's table beside its
bars, and the same Figure object is the CSV download (`?csv=<slug>`), so every figure on a page can
be exported and the export can never disagree with the page. The numbers come from set-based
queries (GROUP BY over the school's rows, never a query per student); tests pin each page's count.
"""
