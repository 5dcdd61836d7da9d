"""The questions the study answers, one module per notebook: each runs its experiment and computes its answer.

A notebook in `notebooks/` sets the parameters, calls its module's `run(...)` and shows the result; the
trainings are child runs of one MLflow parent run per execution, which also holds the answer, the tables
and the figures.
"""
