"""Layer 4, analysis: what the runs say. Summaries, paired statistics, figures, a search's scores and
tables. Imports training (data, run files), config and below."""
