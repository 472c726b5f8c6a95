"""Aggregating a study into tables (Markdown, CSV) and plots (PNG).

runs.py reads the study, stats.py holds the statistics, table.py and
plots.py present them, baselines.py adds scikit-learn's classical learners
on the same splits. experiments/report.py puts it together.
"""
